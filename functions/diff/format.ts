// A fleet diff as text a person reads: for the terminal (`fleet diff`, `fleet plan`) and as Markdown for a
// pull-request comment. Output is bounded whatever the change: hunks per file, lines per hunk and allowlist
// names shown are capped, each cap saying how much it left out ("…and N more").
import { hunkHeader, type Hunk } from "./unified.ts";
import type { FileDiff, FleetDiff, ServiceDiff } from "./fleet.ts";

export interface DiffLimits {
  readonly hunksPerFile: number;
  readonly linesPerHunk: number;
  /** Allowlist names shown per direction (added, removed). */
  readonly entriesShown: number;
}

export const TERMINAL_LIMITS: DiffLimits = { hunksPerFile: 10, linesPerHunk: 60, entriesShown: 25 };
/** Smaller, so a typical change fits one CodeCommit comment with the summary. */
export const COMMENT_LIMITS: DiffLimits = { hunksPerFile: 4, linesPerHunk: 30, entriesShown: 10 };

const count = (n: number) => n.toLocaleString("en-US");
const plural = (n: number, word: string, words = `${word}s`) => `${count(n)} ${n === 1 ? word : words}`;

/** "sha256:0123456789ab" — enough of the hash to tell bundles apart and find one in S3. */
export const shortHash = (hash: string) => hash.slice(0, 19);

export function serviceHeadline(s: ServiceDiff): string {
  const kind = (s.after ?? s.before)!.kind;
  switch (s.change) {
    case "added": return `${s.service} (${kind}): added, ${shortHash(s.after!.hash)}`;
    case "removed": return `${s.service} (${kind}): removed, was ${shortHash(s.before!.hash)}`;
    case "changed": return `${s.service} (${kind}): changed, ${shortHash(s.before!.hash)} → ${shortHash(s.after!.hash)}`;
    case "unchanged": return `${s.service} (${kind}): unchanged, ${shortHash(s.after!.hash)}`;
  }
}

/** The lines of one file's change, without indentation: a unified diff, or an allowlist's names. */
export function fileLines(service: string, file: FileDiff, limits: DiffLimits): string[] {
  switch (file.kind) {
    case "model":
      return [`${file.file}: ${file.change} (the service's model; no rendered file changed)`];
    case "entries": {
      const lines = [`${file.file}: ${file.change}, ${plural(file.added.length, "name")} added, ${count(file.removed.length)} removed (${plural(file.total, "entry", "entries")} now)`];
      const shown = (prefix: string, names: readonly string[], what: string) => {
        for (const name of names.slice(0, limits.entriesShown)) lines.push(`${prefix} ${name}`);
        if (names.length > limits.entriesShown) lines.push(`…and ${count(names.length - limits.entriesShown)} more ${what}`);
      };
      shown("+", file.added, "added");
      shown("-", file.removed, "removed");
      return lines;
    }
    case "lines": {
      const diff = file.diff;
      if (diff.kind === "rewrite") {
        return [`${file.file}: ${file.change}, rewritten (${plural(diff.oldLineCount, "line")} → ${plural(diff.newLineCount, "line")}; too different to show line by line)`];
      }
      const lines = [
        `--- ${file.change === "added" ? "/dev/null" : `a/${service}/${file.file}`}`,
        `+++ ${file.change === "removed" ? "/dev/null" : `b/${service}/${file.file}`}`,
      ];
      for (const hunk of diff.hunks.slice(0, limits.hunksPerFile)) lines.push(...hunkLines(hunk, limits.linesPerHunk));
      const hidden = diff.hunks.slice(limits.hunksPerFile);
      if (hidden.length > 0) {
        const changed = hidden.reduce((n, h) => n + h.lines.filter((l) => !l.startsWith(" ")).length, 0);
        lines.push(`…and ${plural(hidden.length, "more hunk")} (${plural(changed, "changed line")})`);
      }
      return lines;
    }
  }
}

function hunkLines(hunk: Hunk, limit: number): string[] {
  const body = hunk.lines.slice(0, limit);
  const rest = hunk.lines.length - body.length;
  return [hunkHeader(hunk), ...body, ...(rest > 0 ? [`…and ${plural(rest, "more line")} in this hunk`] : [])];
}

export function totals(diff: FleetDiff): string {
  const by = (change: ServiceDiff["change"]) => diff.services.filter((s) => s.change === change).length;
  return `${plural(diff.services.length, "service")}: ${count(by("added"))} added, ${count(by("removed"))} removed, ${count(by("changed"))} changed, ${count(by("unchanged"))} unchanged`;
}

/** The whole diff for a terminal. */
export function formatDiffText(diff: FleetDiff, limits: DiffLimits = TERMINAL_LIMITS): string {
  const out: string[] = [];
  for (const s of diff.services) {
    out.push(serviceHeadline(s));
    for (const file of s.files) out.push(...fileLines(s.service, file, limits).map((l) => `    ${l}`));
  }
  if (diff.names.added.length > 0) out.push(`new DNS names: ${diff.names.added.join(", ")}`);
  if (diff.names.removed.length > 0) out.push(`DNS names no longer used: ${diff.names.removed.join(", ")}`);
  out.push(totals(diff));
  return out.join("\n") + "\n";
}

/**
 * Each changed service as a Markdown block (headline and a fenced diff), for a comment to fit as many as its
 * size allows. Unchanged services are left out: the summary counts them.
 */
export function serviceBlocksMarkdown(diff: FleetDiff, limits: DiffLimits = COMMENT_LIMITS): { service: string; full: string; brief: string }[] {
  return diff.services.filter((s) => s.change !== "unchanged").map((s) => {
    const headline = `**${serviceHeadline(s)}**`;
    const body = s.files.flatMap((f) => fileLines(s.service, f, limits));
    // A fence longer than any run of backticks inside, so no rendered line can close it.
    const longest = Math.max(2, ...body.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((r) => r.length))));
    const fence = "`".repeat(longest + 1);
    const files = s.files.map((f) => f.file).join(", ");
    return {
      service: s.service,
      full: body.length > 0 ? `${headline}\n${fence}diff\n${body.join("\n")}\n${fence}` : headline,
      brief: `${headline}${files ? ` — ${files} (diff left out for size)` : ""}`,
    };
  });
}
