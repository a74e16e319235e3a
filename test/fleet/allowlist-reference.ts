// The allowlist rules as first written, line by line with regular expressions and label lists: the oracle the
// fast parser (char scans, a suffix index) is compared with. Not used by the product.
import { storageServiceOpened, type Allowlist, type AllowlistProblem } from "../../functions/fleet/allowlist.ts";
import { isIpAddress } from "../../functions/fleet/net.ts";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name by label list and regular expressions. */
export function isDnsNameByRegex(value: string): boolean {
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.toLowerCase().split(".");
  if (!labels.every((label) => LABEL.test(label))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

const isDnsName = isDnsNameByRegex;

export function parseAllowlistByRegex(text: string): Allowlist {
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
