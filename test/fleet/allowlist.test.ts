// The allowlist parser and the DNS-name check agree with their first, regular-expression forms on any input:
// the same entries, and the same problems at the same lines and columns, with the covering entry's line.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAllowlist } from "../../functions/fleet/allowlist.ts";
import { isDnsName } from "../../functions/fleet/net.ts";
import { isDnsNameByRegex, parseAllowlistByRegex } from "./allowlist-reference.ts";

const LABELS = ["a", "b", "example", "com", "org", "s3", "amazonaws", "eu-west-1", "blob", "core", "windows", "net", "x-", "-y", "1", "123", "A", "Ex"];
const name = fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 5 }).map((labels) => labels.join("."));
/** Lines people write, and lines they should not: suffixes, wildcards, stray dots, spaces, comments, IPs, CRs. */
const line = fc.oneof(
  { arbitrary: name, weight: 4 },
  { arbitrary: name.map((n) => `.${n}`), weight: 3 },
  { arbitrary: fc.tuple(fc.constantFrom("", " ", "  ", "*.", "*", ".", ".."), name, fc.constantFrom("", ".", "..", " ", " # note", "#x", "\r", " x")).map((parts) => parts.join("")), weight: 3 },
  { arbitrary: fc.constantFrom("", "#", "*", ".", "10.1.2.3", "::1", "fe80::1%eth0", "a\u00a0b", "\u212aexample.com", "caf\u00e9.com", "a\tb", ".s3.eu-west-1.amazonaws.com", ".amazonaws.com"), weight: 1 },
  { arbitrary: fc.string({ unit: fc.constantFrom(..."ab.-*# \t\r1:\u00a0"), maxLength: 12 }), weight: 1 },
);

describe("the allowlist parser", () => {
  it("gives the same entries and problems as the line-by-line regular-expression form", () => {
    fc.assert(fc.property(fc.array(line, { maxLength: 40 }), fc.constantFrom("\n", "\r\n"), (lines, newline) => {
      const text = lines.join(newline);
      expect(parseAllowlist(text)).toStrictEqual(parseAllowlistByRegex(text));
    }), { numRuns: 2000 });
  });

  it("reports a name covered by a suffix at its own line, naming the suffix's line, whichever comes first", () => {
    const list = parseAllowlist("a.b.example.com\n.example.org\n.b.example.com\nx.example.org\n.example.com\n");
    expect(list.entries).toEqual([".example.com", ".example.org"]);
    expect(list.problems.map((p) => `${p.line} ${p.rule} ${p.message}`)).toEqual([
      `1 allowlist-redundant "a.b.example.com" is already allowed by ".b.example.com" (line 3)`,
      `3 allowlist-redundant ".b.example.com" is already allowed by ".example.com" (line 5)`,
      `4 allowlist-redundant "x.example.org" is already allowed by ".example.org" (line 2)`,
    ]);
  });
});

describe("the DNS-name check", () => {
  it("answers as the label-by-label regular expressions do, non-ASCII letters included", () => {
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom(..."aZ09-.\u212a\u0130_ "), maxLength: 20 }),
      fc.array(fc.stringMatching(/^[a-z0-9-]{0,64}$/), { minLength: 1, maxLength: 6 }).map((labels) => labels.join(".")),
      fc.domain(), fc.constantFrom("a".repeat(63) + ".com", "a".repeat(64) + ".com", `${"a.".repeat(126)}com`, `${"a.".repeat(127)}com`, "x.", "."),
    );
    fc.assert(fc.property(text, (value) => {
      expect(isDnsName(value), JSON.stringify(value)).toBe(isDnsNameByRegex(value));
    }), { numRuns: 3000 });
  });
});
