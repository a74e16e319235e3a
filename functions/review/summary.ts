// The review's summary comment on a pull request, within CodeCommit's 10,240-character limit whatever the
// change: the verdict and what would redeploy first, then as much of the diff as fits, then "…and N more".
import { redeployed, type FleetDiff } from "../diff/fleet.ts";
import { serviceBlocksMarkdown, totals } from "../diff/format.ts";
import type { ConfigIssue } from "../fleet/issues.ts";
import { boundedComment, clip, COMMENT_LIMIT, ITEM_LIMIT } from "../rollout/limits.ts";

/** The first line of every summary: how the review finds its own earlier one to replace. */
export const SUMMARY_MARKER = "### proxy-fleet validation";

export interface Reviewed {
  readonly sourceCommit: string;
  /** What the change was compared with, in words ("the accepted config at 0123abcd…"). */
  readonly baseline: string;
  /** How to see the whole diff locally. */
  readonly localCommand: string;
}

const short = (commit: string) => commit.slice(0, 12);
const list = (names: readonly string[], limit = 20) =>
  clip(names.slice(0, limit).join(", ") + (names.length > limit ? ` …and ${names.length - limit} more` : ""), ITEM_LIMIT);

export function noConfigChangeSummary(r: Reviewed, changed: readonly string[]): string {
  return clip([
    `${SUMMARY_MARKER}: ✅ no config change`,
    "",
    `Reviewed ${short(r.sourceCommit)}: none of the ${changed.length} changed file(s) is one the fleet's config reads (${list(changed, 10)}). Nothing would redeploy.`,
  ].join("\n"), COMMENT_LIMIT);
}

export function rejectedSummary(r: Reviewed, errors: readonly ConfigIssue[]): string {
  return boundedComment({
    head: [
      `${SUMMARY_MARKER}: ❌ ${errors.length} error${errors.length === 1 ? "" : "s"}`,
      "",
      `Reviewed ${short(r.sourceCommit)}. Merged as it is, this commit would be rejected and nothing would roll out. Each error is also commented at its line.`,
      "",
    ],
    items: errors.map((e) => `- \`${e.file}:${e.line}:${e.column}\` **${e.rule}**: ${e.message}`),
    whereTheRestIs: `the full list: \`fleet validate\` on a checkout of ${short(r.sourceCommit)}.`,
  });
}

/**
 * The verdict, the services that would redeploy, new DNS names, then each changed service's diff while it fits;
 * a service whose diff does not fit is named with its files, and what does not fit at all is counted.
 */
export function acceptedSummary(r: Reviewed, diff: FleetDiff, baselineNote?: string, warnings: readonly ConfigIssue[] = []): string {
  const changed = redeployed(diff);
  const removed = diff.services.filter((s) => s.change === "removed");
  const head = [
    `${SUMMARY_MARKER}: ✅ valid`,
    "",
    clip(`Reviewed ${short(r.sourceCommit)} against ${r.baseline}.${baselineNote ? ` ${baselineNote}` : ""}`, ITEM_LIMIT),
    "",
    changed.length > 0 ? `- **Would redeploy**: ${list(changed.map((s) => s.service))}` : "- **Would redeploy**: nothing (every bundle is unchanged)",
    ...(removed.length > 0 ? [`- **Removed services**: ${list(removed.map((s) => s.service))}`] : []),
    diff.names.added.length > 0 ? `- **New DNS names**: ${list(diff.names.added)}` : "- **New DNS names**: none",
    `- ${totals(diff)}`,
    ...warningLines(warnings),
  ].join("\n");
  const blocks = serviceBlocksMarkdown(diff);
  const more = (n: number) => `\n\n…and ${n} more service${n === 1 ? "" : "s"}: \`${r.localCommand}\` shows the whole diff.`;
  let text = head;
  let shown = 0;
  for (const block of blocks) {
    const reserve = shown + 1 < blocks.length ? more(blocks.length - shown - 1).length : 0;
    const fits = (part: string) => text.length + 2 + part.length + reserve <= COMMENT_LIMIT;
    if (fits(block.full)) text += `\n\n${block.full}`;
    else if (fits(block.brief)) text += `\n\n${block.brief}`;
    else break;
    shown++;
  }
  if (shown < blocks.length) text += more(blocks.length - shown);
  return clip(text, COMMENT_LIMIT);
}

/** Warnings do not block a merge, but a reviewer should see them (an allowlist opening every S3 bucket, a duplicate). */
const WARNINGS_SHOWN = 10;
function warningLines(warnings: readonly ConfigIssue[]): string[] {
  if (warnings.length === 0) return [];
  return [
    `- **Warnings**: ${warnings.length}`,
    ...warnings.slice(0, WARNINGS_SHOWN).map((w) => clip(`  - \`${w.file}:${w.line}:${w.column}\` **${w.rule}**: ${w.message}`, ITEM_LIMIT)),
    ...(warnings.length > WARNINGS_SHOWN ? [`  - …and ${warnings.length - WARNINGS_SHOWN} more: \`fleet validate\` lists them all`] : []),
  ];
}
