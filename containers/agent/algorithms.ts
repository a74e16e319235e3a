// Which transforms a rendered proposal needs from charon, and which of them `swanctl --list-algs` says the
// running charon lacks. charon loads a connection whose algorithms no plugin provides and only fails when the
// peer negotiates (NO_PROPOSAL_CHOSEN); the agent refuses it before loading instead, naming what is missing.
// Names follow strongSwan's proposal keywords (docs.strongswan.org "IKEv2 Cipher Suites") and the transform
// names swanctl --list-algs prints.

export type TransformType = "encryption" | "aead" | "integrity" | "prf" | "dh";

export interface Transform {
  readonly type: TransformType;
  /** As swanctl --list-algs prints it, e.g. AES_GCM_16, HMAC_SHA2_256_128, ECP_256. */
  readonly name: string;
}

const INTEGRITY: Record<string, string> = {
  md5: "HMAC_MD5_96", sha1: "HMAC_SHA1_96", sha256: "HMAC_SHA2_256_128", sha384: "HMAC_SHA2_384_192",
  sha512: "HMAC_SHA2_512_256", aesxcbc: "AES_XCBC_96", aescmac: "AES_CMAC_96",
};
const PRF: Record<string, string> = {
  prfmd5: "PRF_HMAC_MD5", prfsha1: "PRF_HMAC_SHA1", prfsha256: "PRF_HMAC_SHA2_256", prfsha384: "PRF_HMAC_SHA2_384",
  prfsha512: "PRF_HMAC_SHA2_512", prfaesxcbc: "PRF_AES128_XCBC", prfaescmac: "PRF_AES128_CMAC",
};

/** The transform one proposal keyword stands for; undefined for keywords this check does not know. */
export function transformOf(keyword: string): Transform | undefined {
  let m: RegExpMatchArray | null;
  if ((m = /^aes(?:128|192|256)?(gcm|ccm)(8|12|16|64|96|128)?$/.exec(keyword))) {
    const icv = { "64": "8", "96": "12", "128": "16" }[m[2] ?? ""] ?? m[2] ?? "16";
    return { type: "aead", name: `AES_${m[1]!.toUpperCase()}_${icv}` };
  }
  if (/^aes(?:128|192|256)?ctr$/.test(keyword)) return { type: "encryption", name: "AES_CTR" };
  if (/^aes(?:128|192|256)?$/.test(keyword)) return { type: "encryption", name: "AES_CBC" };
  if ((m = /^camellia(?:128|192|256)?(ctr)?$/.exec(keyword))) return { type: "encryption", name: m[1] ? "CAMELLIA_CTR" : "CAMELLIA_CBC" };
  if (/^blowfish(?:128|192|256)?$/.test(keyword)) return { type: "encryption", name: "BLOWFISH_CBC" };
  if (keyword === "cast128") return { type: "encryption", name: "CAST_CBC" };
  if (keyword === "3des") return { type: "encryption", name: "3DES_CBC" };
  if (keyword === "chacha20poly1305") return { type: "aead", name: "CHACHA20_POLY1305" };
  if (keyword in PRF) return { type: "prf", name: PRF[keyword]! };
  // In IKE proposals an integrity keyword also implies the matching PRF; the integrity transform is what
  // charon needs to find first, and the PRF comes from the same plugin (hmac, xcbc or cmac).
  if (keyword in INTEGRITY) return { type: "integrity", name: INTEGRITY[keyword]! };
  if ((m = /^modp(\d+)(?:s(\d+))?$/.exec(keyword))) return { type: "dh", name: `MODP_${m[1]}${m[2] ? `_${m[2]}` : ""}` };
  if ((m = /^ecp(\d+)(bp)?$/.exec(keyword))) return { type: "dh", name: `ECP_${m[1]}${m[2] ? "_BP" : ""}` };
  if ((m = /^curve(25519|448)$/.exec(keyword))) return { type: "dh", name: `CURVE_${m[1]}` };
  return undefined;
}

/** Parses swanctl --list-algs: section headers ("aead:") followed by indented "NAME[plugin]" lines. */
export function parseListAlgs(output: string): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of output.split("\n")) {
    const header = /^([a-z-]+):\s*$/.exec(line);
    if (header) {
      current = new Set();
      sections.set(header[1]!, current);
      continue;
    }
    const entry = /^\s+([A-Z0-9_]+)\[/.exec(line);
    if (entry && current) current.add(entry[1]!);
  }
  // strongSwan 6 calls the DH section "ke" (key exchange).
  if (!sections.has("dh") && sections.has("ke")) sections.set("dh", sections.get("ke")!);
  return sections;
}

export interface MissingAlgorithm {
  readonly keyword: string;
  readonly transform: Transform;
  /** Where it is used, e.g. "dc1 IKE proposal aes256gcm16-prfsha256-ecp256". */
  readonly usedIn: string;
}

/**
 * Every algorithm a set of proposals (swanctl.conf strings like "aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048")
 * uses that the running charon does not offer.
 */
export function missingAlgorithms(
  proposals: ReadonlyArray<{ readonly usedIn: string; readonly context: "ike" | "esp"; readonly proposals: string }>,
  available: Map<string, Set<string>>,
): MissingAlgorithm[] {
  const missing: MissingAlgorithm[] = [];
  for (const { usedIn, context, proposals: text } of proposals) {
    for (const proposal of text.split(",").filter(Boolean)) {
      for (const keyword of proposal.split("-")) {
        const transform = transformOf(keyword);
        if (!transform) continue;
        if (!available.get(transform.type)?.has(transform.name)) {
          missing.push({ keyword, transform, usedIn: `${usedIn} ${context.toUpperCase()} proposal ${proposal}` });
        }
      }
    }
  }
  return missing;
}

/** One line per missing algorithm, e.g. `ecp256 (dh ECP_256) in dc1 IKE proposal aes256gcm16-prfsha256-ecp256`. */
export function describeMissing(missing: readonly MissingAlgorithm[]): string {
  return missing.map((m) => `${m.keyword} (${m.transform.type} ${m.transform.name}) in ${m.usedIn}`).join("\n");
}
