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
    const entry = content.toLowerCase().replace(/\.$/, "");
    if (entry === "*" || entry === "." || entry === "*.") {
      return problem("error", "allowlist-too-broad", `"${content}" would allow every domain`);
    }
    if (entry.startsWith("*.")) {
      return problem(
        "error",
        "allowlist-wildcard",
        `"${content}": write ".${entry.slice(2)}" to allow ${entry.slice(2)} and all its subdomains`,
      );
    }
    const isSuffix = entry.startsWith(".");
    const name = isSuffix ? entry.slice(1) : entry;
    if (isIpAddress(name)) return problem("error", "allowlist-entry", `"${content}" is an IP address, not a domain name`);
    if (!isDnsName(name)) return problem("error", "allowlist-entry", `"${content}" is not a valid domain name`);
    if (isSuffix && !name.includes(".")) {
      return problem("error", "allowlist-too-broad", `"${content}" would allow every domain under the top-level domain .${name}`);
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
