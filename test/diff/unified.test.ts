// The line diff: hunks that turn the old text into the new one, with the fewest changed lines, in diff -u's shape.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyHunks, diffLines, editScript, hunkHeader, splitLines, type Hunk } from "../../functions/diff/unified.ts";

/** Length of the longest common subsequence, by dynamic programming: the shortest edit script's yardstick. */
function lcs(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(row[j]!, row[j - 1]!);
      diagonal = above;
    }
  }
  return row[b.length]!;
}

const lines = fc.array(fc.constantFrom("a", "b", "c", "d", "", "server x"), { maxLength: 40 });
const text = (l: readonly string[]) => (l.length ? `${l.join("\n")}\n` : "");

describe("diffLines", () => {
  it("hunks applied to the old text give the new text", () => {
    fc.assert(fc.property(lines, lines, fc.integer({ min: 0, max: 4 }), (a, b, context) => {
      const diff = diffLines(text(a), text(b), { context });
      if (diff.kind !== "hunks") throw new Error("unexpected rewrite");
      expect(applyHunks(a, diff.hunks)).toEqual(b);
    }), { numRuns: 500 });
  });

  it("changes the fewest lines: removed + added = |a| + |b| − 2·LCS", () => {
    fc.assert(fc.property(lines, lines, (a, b) => {
      const ops = editScript(a, b, 1_000)!;
      const changed = ops.filter((op) => op !== 0).length;
      expect(changed).toBe(a.length + b.length - 2 * lcs(a, b));
    }), { numRuns: 500 });
  });

  it("hunk headers count what each hunk holds", () => {
    fc.assert(fc.property(lines, lines, (a, b) => {
      const diff = diffLines(text(a), text(b));
      for (const h of (diff.kind === "hunks" ? diff.hunks : []) as Hunk[]) {
        expect(h.lines.filter((l) => !l.startsWith("+")).length).toBe(h.oldLines);
        expect(h.lines.filter((l) => !l.startsWith("-")).length).toBe(h.newLines);
      }
    }), { numRuns: 300 });
  });

  it("shows three lines of context and joins changes closer than six lines, as diff -u does", () => {
    const old = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    const near = old.map((l, i) => (i === 9 || i === 15 ? `${l} changed` : l));
    const nearDiff = diffLines(text(old), text(near));
    expect(nearDiff.kind === "hunks" && nearDiff.hunks.map(hunkHeader)).toEqual(["@@ -7,13 +7,13 @@"]);
    const far = old.map((l, i) => (i === 9 || i === 17 ? `${l} changed` : l));
    const farDiff = diffLines(text(old), text(far));
    expect(farDiff.kind === "hunks" && farDiff.hunks.map(hunkHeader)).toEqual(["@@ -7,7 +7,7 @@", "@@ -15,7 +15,7 @@"]);
    expect(farDiff.kind === "hunks" && farDiff.hunks[0]!.lines).toEqual([
      " line 7", " line 8", " line 9", "-line 10", "+line 10 changed", " line 11", " line 12", " line 13",
    ]);
  });

  it("numbers an added file from line 0 on the old side", () => {
    const diff = diffLines("", "a\nb\n");
    expect(diff.kind === "hunks" && diff.hunks.map(hunkHeader)).toEqual(["@@ -0,0 +1,2 @@"]);
  });

  it("reports a change needing more than maxEdits edits as a rewrite, not line by line", () => {
    const a = Array.from({ length: 500 }, (_, i) => `old ${i}`);
    const b = Array.from({ length: 400 }, (_, i) => `new ${i}`);
    expect(diffLines(text(a), text(b), { maxEdits: 100 })).toEqual({ kind: "rewrite", oldLineCount: 500, newLineCount: 400 });
    expect(diffLines(text(a), text(b), { maxEdits: 900 })).toMatchObject({ kind: "hunks", added: 400, removed: 500 });
  });

  it("treats a final newline as ending the last line", () => {
    expect(splitLines("a\nb\n")).toEqual(["a", "b"]);
    expect(splitLines("a\nb")).toEqual(["a", "b"]);
    expect(splitLines("")).toEqual([]);
  });
});
