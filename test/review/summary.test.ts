// The summary comment stays within CodeCommit's 10,240 characters for any diff, and says what it left out.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FleetDiff, ServiceDiff } from "../../functions/diff/fleet.ts";
import { acceptedSummary, rejectedSummary, SUMMARY_MARKER } from "../../functions/review/summary.ts";
import { COMMENT_LIMIT } from "../../functions/rollout/limits.ts";

const reviewed = { sourceCommit: "a".repeat(40), baseline: "the accepted config", localCommand: "fleet diff <clone> main..aaaaaaaaaaaa" };
const hash = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

function changedService(name: string, hunks: number, lineLength: number): ServiceDiff {
  const hunk = (h: number) => ({
    oldStart: h * 100 + 1, oldLines: 30, newStart: h * 100 + 1, newLines: 30,
    lines: Array.from({ length: 30 }, (_, i) => `${i % 2 ? "+" : "-"}${"x".repeat(lineLength)}`),
  });
  return {
    service: name, change: "changed", before: { kind: "haproxy", hash: hash(1) }, after: { kind: "haproxy", hash: hash(2) },
    files: [{ file: "haproxy.cfg", kind: "lines", change: "changed", diff: { kind: "hunks", hunks: Array.from({ length: hunks }, (_, h) => hunk(h)), added: 15 * hunks, removed: 15 * hunks } }],
  };
}

describe("acceptedSummary", () => {
  it("names a service whose diff alone is too long, with its files, instead of cutting the diff", () => {
    const diff: FleetDiff = { services: [changedService("router", 4, 120)], names: { added: [], removed: [] } };
    const summary = acceptedSummary(reviewed, diff);
    expect(summary.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(summary).toContain("**router (haproxy): changed, sha256:000000000000 → sha256:000000000000** — haproxy.cfg (diff left out for size)");
    expect(summary).not.toContain("```diff");
  });

  it("fits any number of services and line lengths within the limit, and counts what it left out", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 400 }), (count, hunks, length) => {
      const services = Array.from({ length: count }, (_, i) => changedService(`router-${i}`, hunks, length));
      const summary = acceptedSummary(reviewed, { services, names: { added: Array.from({ length: count }, (_, i) => `db${i}.example.com`), removed: [] } });
      expect(summary.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      expect(summary.startsWith(`${SUMMARY_MARKER}: ✅ valid`)).toBe(true);
      const shown = summary.split("\n").filter((l) => l.startsWith("**router-")).length;
      const more = /…and (\d+) more services?:/.exec(summary);
      expect(shown + Number(more?.[1] ?? 0)).toBe(count);
    }), { numRuns: 60 });
  });
});

describe("rejectedSummary", () => {
  it("lists errors until the limit, then how many more and where to see them", () => {
    const errors = Array.from({ length: 500 }, (_, i) => ({ severity: "error" as const, file: "fleet.yaml", line: i + 1, column: 1, rule: "schema", message: "m".repeat(80) }));
    const summary = rejectedSummary(reviewed, errors);
    expect(summary.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(summary).toMatch(/^### proxy-fleet validation: ❌ 500 errors/);
    expect(summary).toMatch(/…and \d+ more: the full list: `fleet validate` on a checkout of aaaaaaaaaaaa\.$/);
  });
});
