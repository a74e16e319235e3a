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
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const raw = withoutCarriageReturn(lines[index]!);
    const hash = raw.indexOf("#");
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content === "") continue;
    const column = content.length === raw.length ? 1 : raw.indexOf(content) + 1;
    const entry = checkEntry(content, firstSeen, { problems, line, column });
    if (entry !== undefined) firstSeen.set(entry, line);
  }

  // Squid refuses a name that a ".suffix" entry already covers, so such names are reported and dropped.
  // Held without their leading dot: a plain entry is then its own first candidate, with no new string to hash.
  const suffixes: SuffixIndex = { names: new Set(), tails: new Set() };
  for (const entry of firstSeen.keys()) {
    if (entry.startsWith(".")) {
      suffixes.names.add(entry.slice(1));
      suffixes.tails.add(lastTwoLabels(entry));
    }
  }
  const entries: string[] = [];
  for (const [entry, line] of firstSeen) {
    const suffix = suffixes.names.size > 0 ? coveringSuffix(entry, suffixes) : undefined;
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
  // No comparator: V8's built-in string order (UTF-16 code units) is twice as fast as a JS one.
  entries.sort();
  return { entries, problems };
}

/** Where a line's problems go. */
interface LineReport {
  readonly problems: AllowlistProblem[];
  readonly line: number;
  readonly column: number;
}

/** Records a problem on the report's line; returns undefined, so a check can `return problem(…)` to keep nothing. */
function problem(report: LineReport, severity: "error" | "warning", rule: string, message: string): undefined {
  report.problems.push({ severity, line: report.line, column: report.column, rule, message });
  return undefined;
}

/** One line's entry, normalized, or undefined when it is not kept; its problems go to `report`. */
function checkEntry(content: string, firstSeen: ReadonlyMap<string, number>, report: LineReport): string | undefined {
  const letters = scanLetters(content);
  if (letters === WHITESPACE) return problem(report, "error", "allowlist-entry", `"${content}": one entry per line`);
  // One trailing dot (the DNS root) is dropped; what is left must not end with a dot, or Squid would hold a
  // name no request ever carries ("a.com.." → "a.com.") and a suffix could hide its breadth (".org.." → ".org.").
  const lower = letters === LOWERCASE ? content : content.toLowerCase();
  const entry = lower.endsWith(".") ? lower.slice(0, -1) : lower;
  if (onlyDotsAndStars(entry)) return problem(report, "error", "allowlist-too-broad", `"${content}" would allow every domain`);
  if (entry.startsWith("*.")) {
    return problem(report, "error", "allowlist-wildcard", `"${content}": write ".${entry.slice(2)}" to allow ${entry.slice(2)} and all its subdomains`);
  }
  if (entry.endsWith(".")) {
    const stripped = entry.replace(/\.+$/, "");
    if (stripped.startsWith(".") && !stripped.slice(1).includes(".")) {
      return problem(report, "error", "allowlist-too-broad", `"${content}" would allow every domain under the top-level domain ${stripped}`);
    }
    return problem(report, "error", "allowlist-entry", `"${content}" ends with more than one dot, so Squid would never match it: write ${stripped}`);
  }
  const isSuffix = entry.startsWith(".");
  const name = isSuffix ? entry.slice(1) : entry;
  // A valid DNS name is never an IP address (its last label is not all digits, and it holds no ":"), so the
  // address check is only needed for what the name check refuses.
  if (!isDnsName(name)) {
    if (isIpAddress(name)) return problem(report, "error", "allowlist-entry", `"${content}" is an IP address, not a domain name`);
    return problem(report, "error", "allowlist-entry", `"${content}" is not a valid domain name`);
  }
  if (isSuffix && !name.includes(".")) {
    return problem(report, "error", "allowlist-too-broad", `"${content}" would allow every domain under the top-level domain .${name}`);
  }
  const storage = isSuffix ? storageServiceOpened(name) : undefined;
  if (storage) {
    problem(report, "warning", "allowlist-storage", `"${content}" allows every ${storage}, anyone's as well as yours: list your own bucket or account names instead`);
  }
  const previous = firstSeen.get(entry);
  if (previous !== undefined) return problem(report, "warning", "allowlist-duplicate", `"${content}" is already listed at line ${previous}`);
  return entry;
}

interface SuffixIndex {
  /** The ".suffix" entries without their dot. */
  readonly names: Set<string>;
  /** Their last two labels ("example.com"): every suffix covering an entry ends with the entry's own last two. */
  readonly tails: Set<string>;
}

function lastTwoLabels(name: string): string {
  return name.slice(name.lastIndexOf(".", name.lastIndexOf(".") - 1) + 1);
}

/**
 * The longest ".suffix" entry that covers `entry`, other than itself: "a.b.example.com" is covered by
 * ".a.b.example.com", ".b.example.com" or ".example.com". Each candidate is looked up once, longest first, and only
 * candidates of two labels or more (".com" is never an entry); an entry whose last two labels end no suffix entry
 * costs one lookup.
 */
function coveringSuffix(entry: string, suffixes: SuffixIndex): string | undefined {
  const isSuffix = entry.charCodeAt(0) === 0x2e;
  const lastDot = entry.lastIndexOf(".");
  if (!isSuffix && lastDot > 0 && suffixes.names.has(entry)) return `.${entry}`;
  if (!suffixes.tails.has(lastTwoLabels(entry))) return undefined;
  for (let dot = entry.indexOf(".", 1); dot !== -1 && dot < lastDot; dot = entry.indexOf(".", dot + 1)) {
    const name = entry.slice(dot + 1);
    if (suffixes.names.has(name)) return `.${name}`;
  }
  return undefined;
}

function withoutCarriageReturn(line: string): string {
  return line.charCodeAt(line.length - 1) === 0x0d ? line.slice(0, -1) : line;
}

const LOWERCASE = 0, UPPERCASE = 1, WHITESPACE = 2;

/**
 * One scan of an entry: white space inside it (the same answer as /\s/; entries are trimmed, so only inner white
 * space is left to find), else whether lowercasing could change it (an ASCII capital, or any non-ASCII letter).
 */
function scanLetters(text: string): typeof LOWERCASE | typeof UPPERCASE | typeof WHITESPACE {
  let found: typeof LOWERCASE | typeof UPPERCASE = LOWERCASE;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return WHITESPACE;
    if (c >= 0x80) return /\s/.test(text) ? WHITESPACE : UPPERCASE;
    if (c >= 0x41 && c <= 0x5a) found = UPPERCASE;
  }
  return found;
}

/** "", ".", "*", "*." and any other run of dots and stars: no name is left. */
function onlyDotsAndStars(entry: string): boolean {
  for (let i = 0; i < entry.length; i++) {
    const c = entry.charCodeAt(i);
    if (c !== 0x2e && c !== 0x2a) return false;
  }
  return true;
}
