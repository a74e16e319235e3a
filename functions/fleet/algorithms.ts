// IPsec algorithm names we accept, as swanctl spells them (strongSwan's "IKEv2 Cipher Suites" page): exactly the
// ones `swanctl --list-algs` shows for a charon with the project's plugins (Debian 12, strongSwan 5.9.8: aes,
// sha1, sha2, md5, hmac, gcm, openssl …). Weak ones are accepted because on-prem peers still demand them, and
// reported as warnings.
const sizes = ["128", "192", "256"] as const;

/** AEAD ciphers: they carry their own integrity, so IKE pairs them with a PRF and ESP with nothing. */
export const AEAD_ALGORITHMS: readonly string[] = [
  ...sizes.flatMap((bits) => ["8", "12", "16"].map((icv) => `aes${bits}gcm${icv}`)),
  ...sizes.flatMap((bits) => ["8", "12", "16"].map((icv) => `aes${bits}ccm${icv}`)),
  "chacha20poly1305",
];

export const ENCRYPTION: readonly [string, ...string[]] = [
  "aes256",
  ...sizes.map((bits) => `aes${bits}`),
  ...sizes.map((bits) => `aes${bits}ctr`),
  ...sizes.map((bits) => `camellia${bits}`),
  ...sizes.map((bits) => `camellia${bits}ctr`),
  "3des", "cast128", "blowfish128", "blowfish192", "blowfish256",
  ...AEAD_ALGORITHMS,
].filter((name, i, all) => all.indexOf(name) === i) as [string, ...string[]];

export const INTEGRITY = ["sha1", "sha256", "sha384", "sha512", "md5"] as const;

/** Groups 2, 5, 14–18, 22–32 (RFC 7296, 5114, 5903, 6954, 8031). */
export const DH_GROUPS = [
  "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
  "modp1024s160", "modp2048s224", "modp2048s256",
  "ecp192", "ecp224", "ecp256", "ecp384", "ecp521",
  "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp",
  "curve25519", "curve448",
] as const;

/**
 * Names strongSwan knows that this project's charon cannot use, with the reason: a proposal naming one would not
 * load ("invalid value for: proposals"), so the schema refuses it with this sentence.
 */
export const UNAVAILABLE_ALGORITHMS: Readonly<Record<string, string>> = {
  aesxcbc: "needs charon's xcbc plugin, which the project's charon does not load",
  aescmac: "needs charon's cmac plugin (Debian libstrongswan-extra-plugins), which the project's charon does not have",
  sha256_96: "is the truncated pre-RFC 4868 variant; use sha256",
  modp768: "(group 1) is broken and no longer offered",
};

export const AEAD_ENCRYPTION: ReadonlySet<string> = new Set(AEAD_ALGORITHMS);
export const WEAK_ALGORITHMS: ReadonlySet<string> = new Set([
  "3des", "cast128", "blowfish128", "blowfish192", "blowfish256", "md5", "sha1",
  "modp1024", "modp1536", "modp1024s160", "modp2048s224", "modp2048s256", "ecp192", "ecp224bp",
]);
