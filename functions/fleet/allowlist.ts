// Squid domain allowlists: one entry a line, "example.com" for the name alone, ".example.com" for the name
// and every subdomain. "#" starts a comment.
import { isDnsName, isIpAddress } from "./net.ts";

export interface AllowlistProblem {
  readonly severity: "error" | "warning";
  readonly line: number;
  readonly column: number;
  readonly rule: string;
  readonly message: string;
}

export interface Allowlist {
  /** Normalized, deduplicated, sorted entries; names covered by a ".suffix" entry are dropped. */
  readonly entries: string[];
  readonly problems: AllowlistProblem[];
}

/**
 * Suffixes under which anyone can create a storage bucket or account: allowing the whole suffix lets data leave
 * to any owner's storage. Each maps to the words the warning uses.
 */
const STORAGE_SUFFIXES: ReadonlyArray<readonly [string, string]> = [
  ["amazonaws.com", "AWS service endpoint, S3 buckets included"],
  ["s3.amazonaws.com", "S3 bucket"],
  ["blob.core.windows.net", "Azure Blob Storage account"],
  ["core.windows.net", "Azure Storage account"],
  ["storage.googleapis.com", "Google Cloud Storage bucket"],
  ["googleapis.com", "Google API endpoint, Cloud Storage included"],
  ["r2.cloudflarestorage.com", "Cloudflare R2 bucket"],
  ["digitaloceanspaces.com", "DigitalOcean Spaces bucket"],
];

/** What a ".suffix" entry opens when it covers a public storage service: ".s3.amazonaws.com", ".s3.eu-west-1.amazonaws.com"… */
export function storageServiceOpened(suffix: string): string | undefined {
  // Regional S3 endpoints: s3.<region>.amazonaws.com and s3-<region>.amazonaws.com.
  if (/^s3[.-][a-z0-9-]+\.amazonaws\.com$/.test(suffix) || /^s3\.dualstack\.[a-z0-9-]+\.amazonaws\.com$/.test(suffix)) return "S3 bucket";
  return STORAGE_SUFFIXES.find(([known]) => known === suffix)?.[1];
}

export function parseAllowlist(text: string): Allowlist {
  const problems: AllowlistProblem[] = [];
  const firstSeen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const hash = raw.indexOf("#");
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content === "") return;
    const column = raw.indexOf(content) + 1;
    const problem = (severity: "error" | "warning", rule: string, message: string) =>
      problems.push({ severity, line, column, rule, message });

    if (/\s/.test(content)) return problem("error", "allowlist-entry", `"${content}": one entry per line`);
    // One trailing dot (the DNS root) is dropped; what is left must not end with a dot, or Squid would hold a
    // name no request ever carries ("a.com.." → "a.com.") and a suffix could hide its breadth (".org.." → ".org.").
    const entry = content.toLowerCase().replace(/\.$/, "");
    if (entry === "*" || entry === "." || entry === "*." || /^[.*]*$/.test(entry)) {
      return problem("error", "allowlist-too-broad", `"${content}" would allow every domain`);
    }
    if (entry.startsWith("*.")) {
      return problem(
        "error",
        "allowlist-wildcard",
        `"${content}": write ".${entry.slice(2)}" to allow ${entry.slice(2)} and all its subdomains`,
      );
    }
    if (entry.endsWith(".")) {
      const stripped = entry.replace(/\.+$/, "");
      if (stripped.startsWith(".") && !stripped.slice(1).includes(".")) {
        return problem("error", "allowlist-too-broad", `"${content}" would allow every domain under the top-level domain ${stripped}`);
      }
      return problem("error", "allowlist-entry", `"${content}" ends with more than one dot, so Squid would never match it: write ${stripped}`);
    }
    const isSuffix = entry.startsWith(".");
    const name = isSuffix ? entry.slice(1) : entry;
    if (isIpAddress(name)) return problem("error", "allowlist-entry", `"${content}" is an IP address, not a domain name`);
    if (!isDnsName(name)) return problem("error", "allowlist-entry", `"${content}" is not a valid domain name`);
    if (isSuffix && !name.includes(".")) {
      return problem("error", "allowlist-too-broad", `"${content}" would allow every domain under the top-level domain .${name}`);
    }
    const storage = isSuffix ? storageServiceOpened(name) : undefined;
    if (storage) {
      problem("warning", "allowlist-storage",
        `"${content}" allows every ${storage}, anyone's as well as yours: list your own bucket or account names instead`);
    }
    const previous = firstSeen.get(entry);
    if (previous !== undefined) {
      return problem("warning", "allowlist-duplicate", `"${content}" is already listed at line ${previous}`);
    }
    firstSeen.set(entry, line);
  });

  // Squid refuses a name that a ".suffix" entry already covers, so such names are reported and dropped.
  const suffixes = new Set([...firstSeen.keys()].filter((entry) => entry.startsWith(".")));
  const coveringSuffix = (entry: string): string | undefined => {
    const name = entry.startsWith(".") ? entry.slice(1) : entry;
    const labels = name.split(".");
    for (let i = entry.startsWith(".") ? 1 : 0; i < labels.length - 1; i++) {
      const suffix = "." + labels.slice(i).join(".");
      if (suffix !== entry && suffixes.has(suffix)) return suffix;
    }
    return undefined;
  };
  const entries: string[] = [];
  for (const [entry, line] of firstSeen) {
    const suffix = coveringSuffix(entry);
    if (suffix) {
      problems.push({
        severity: "warning",
        line,
        column: 1,
        rule: "allowlist-redundant",
        message: `"${entry}" is already allowed by "${suffix}" (line ${firstSeen.get(suffix)})`,
      });
    } else {
      entries.push(entry);
    }
  }
  entries.sort();
  return { entries, problems };
}
