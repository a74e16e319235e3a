// A line diff of two texts as unified-diff hunks (Myers' O((N+M)·D) algorithm on the lines between the
// common prefix and suffix). Rendered daemon files are long and mostly equal, so trimming the ends makes the
// usual case linear; an edit distance above `maxEdits` is not worked out line by line (its cost grows as D²)
// and is reported as a rewrite instead.

export interface Hunk {
  /** 1-based first line of the hunk in the old text (0 when the hunk starts before an empty old text). */
  readonly oldStart: number;
  readonly oldLines: number;
  readonly newStart: number;
  readonly newLines: number;
  /** Each line with its prefix: " " kept, "-" removed, "+" added. */
  readonly lines: readonly string[];
}

export type LineDiff =
  | { readonly kind: "hunks"; readonly hunks: readonly Hunk[]; readonly added: number; readonly removed: number }
  | { readonly kind: "rewrite"; readonly oldLineCount: number; readonly newLineCount: number };

export interface LineDiffOptions {
  /** Unchanged lines shown around each change (default 3, as diff -u). */
  readonly context?: number;
  /** Largest edit distance (lines added + removed) worked out line by line (default 2,000). */
  readonly maxEdits?: number;
}

type Op = 0 | 1 | 2; // 0 kept, 1 removed (old only), 2 added (new only)
const KEEP = 0;
const REMOVE = 1;
const ADD = 2;

/** Lines of a text; a final newline ends the last line rather than starting an empty one. */
export function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  return lines;
}

export function diffLines(before: string, after: string, options: LineDiffOptions = {}): LineDiff {
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = editScript(a, b, options.maxEdits ?? 2_000);
  if (!ops) return { kind: "rewrite", oldLineCount: a.length, newLineCount: b.length };
  return { kind: "hunks", hunks: toHunks(ops, a, b, options.context ?? 3), added: count(ops, ADD), removed: count(ops, REMOVE) };
}

function count(ops: readonly Op[], op: Op): number {
  let n = 0;
  for (const o of ops) if (o === op) n++;
  return n;
}

/**
 * The shortest edit script turning `a` into `b`, one op per kept, removed or added line, in order; undefined
 * when it needs more than `maxEdits` removals and additions.
 */
export function editScript(a: readonly string[], b: readonly string[], maxEdits: number): Op[] | undefined {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const middle = myers(ids(a, b, prefix, suffix), maxEdits);
  if (!middle) return undefined;
  return [...new Array<Op>(prefix).fill(KEEP), ...middle, ...new Array<Op>(suffix).fill(KEEP)];
}

/** The middle parts as integers (equal lines, equal numbers): comparisons in the inner loop are cheap. */
function ids(a: readonly string[], b: readonly string[], prefix: number, suffix: number): { a: Int32Array; b: Int32Array } {
  const table = new Map<string, number>();
  const idOf = (line: string) => {
    let id = table.get(line);
    if (id === undefined) table.set(line, (id = table.size));
    return id;
  };
  return {
    a: Int32Array.from(a.slice(prefix, a.length - suffix), idOf),
    b: Int32Array.from(b.slice(prefix, b.length - suffix), idOf),
  };
}

/**
 * Myers' greedy algorithm ("An O(ND) Difference Algorithm and Its Variations", 1986). V[k] is the furthest x
 * reached on diagonal k = x − y; each round d keeps a copy of V over k ∈ [−d−1, d+1] so the path can be walked
 * back. Memory is O(D²), bounded by maxEdits.
 */
function myers({ a, b }: { a: Int32Array; b: Int32Array }, maxEdits: number): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const limit = Math.min(n + m, maxEdits);
  const offset = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= limit; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m);
    }
  }
  return undefined;
}

function backtrack(trace: readonly Int32Array[], n: number, m: number): Op[] {
  const reversed: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const at = (k: number) => trace[d]![k + d + 1]!;
    const k = x - y;
    const previousK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const previousX = at(previousK);
    const previousY = previousX - previousK;
    while (x > previousX && y > previousY) {
      reversed.push(KEEP);
      x--;
      y--;
    }
    if (d > 0) reversed.push(x === previousX ? ADD : REMOVE);
    x = previousX;
    y = previousY;
  }
  return reversed.reverse();
}

/** Groups an edit script into hunks with `context` kept lines around changes (changes closer than 2·context share one). */
function toHunks(ops: readonly Op[], a: readonly string[], b: readonly string[], context: number): Hunk[] {
  const hunks: Hunk[] = [];
  // Positions (in ops) of the changes; a hunk spans from a change minus context to the next gap > 2·context.
  let i = 0;
  const oldAt: number[] = [];
  const newAt: number[] = [];
  for (let x = 0, y = 0, j = 0; j < ops.length; j++) {
    oldAt.push(x);
    newAt.push(y);
    if (ops[j] !== ADD) x++;
    if (ops[j] !== REMOVE) y++;
  }
  while (i < ops.length) {
    while (i < ops.length && ops[i] === KEEP) i++;
    if (i >= ops.length) break;
    const start = Math.max(0, i - context);
    let end = i;
    let lastChange = i;
    while (end < ops.length) {
      if (ops[end] !== KEEP) lastChange = end;
      else if (end - lastChange > 2 * context) break;
      end++;
    }
    const stop = Math.min(ops.length, lastChange + context + 1);
    const lines: string[] = [];
    let oldLines = 0;
    let newLines = 0;
    for (let j = start; j < stop; j++) {
      const op = ops[j]!;
      if (op === KEEP) {
        lines.push(` ${a[oldAt[j]!]}`);
        oldLines++;
        newLines++;
      } else if (op === REMOVE) {
        lines.push(`-${a[oldAt[j]!]}`);
        oldLines++;
      } else {
        lines.push(`+${b[newAt[j]!]}`);
        newLines++;
      }
    }
    // diff -u numbers an empty side as line 0.
    hunks.push({
      oldStart: oldLines === 0 ? oldAt[start]! : oldAt[start]! + 1, oldLines,
      newStart: newLines === 0 ? newAt[start]! : newAt[start]! + 1, newLines, lines,
    });
    i = stop;
  }
  return hunks;
}

export function hunkHeader(hunk: Hunk): string {
  return `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`;
}

/** Applies hunks to the old text's lines: the new text's lines (what tests check a diff against). */
export function applyHunks(oldLines: readonly string[], hunks: readonly Hunk[]): string[] {
  const result: string[] = [];
  let next = 0; // index in oldLines
  for (const hunk of hunks) {
    const from = hunk.oldLines === 0 ? hunk.oldStart : hunk.oldStart - 1;
    while (next < from) result.push(oldLines[next++]!);
    for (const line of hunk.lines) {
      if (line.startsWith("+")) result.push(line.slice(1));
      else {
        if (oldLines[next] !== line.slice(1)) throw new Error(`hunk ${hunkHeader(hunk)} does not match line ${next + 1}`);
        if (line.startsWith(" ")) result.push(line.slice(1));
        next++;
      }
    }
  }
  while (next < oldLines.length) result.push(oldLines[next++]!);
  return result;
}
