// IPsec algorithm names we accept, as strongSwan spells them. Weak ones (3des, md5, sha1, modp1024) are
// accepted because on-prem peers still demand them, and reported as warnings.
export const ENCRYPTION = ["aes128", "aes192", "aes256", "aes128gcm16", "aes192gcm16", "aes256gcm16", "3des"] as const;
export const INTEGRITY = ["sha1", "sha256", "sha384", "sha512", "md5"] as const;
export const DH_GROUPS = [
  "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
  "ecp256", "ecp384", "ecp521", "curve25519",
] as const;

export const AEAD_ENCRYPTION: ReadonlySet<string> = new Set(["aes128gcm16", "aes192gcm16", "aes256gcm16"]);
export const WEAK_ALGORITHMS: ReadonlySet<string> = new Set(["3des", "md5", "sha1", "modp1024", "modp1536"]);
