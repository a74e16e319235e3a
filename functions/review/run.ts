// One review of a pull request into the tracked branch: validate the source commit's config, render it, diff
// it against the accepted config, and say so on the pull request (one summary, replaced on every run; a
// located comment per error) with the approval of the "proxy-fleet validation" rule set to match.
// Level-triggered like the loops: whatever commit the event names, only the pull request's current head is
// reported, so a late event for an older push exits without a word.
import { runningModel } from "../dns/sync.ts";
import { diffFleets, redeployed } from "../diff/fleet.ts";
import type { ConfigIssue } from "../fleet/issues.ts";
import { FLEET_FILE, loadFleet, type FleetModel } from "../fleet/load.ts";
import { MemoryTree, recordingTree } from "../fleet/tree.ts";
import { clip, ITEM_LIMIT, lineCount } from "../rollout/limits.ts";
import type { PullRequest, ReviewPorts } from "./ports.ts";
import { acceptedSummary, noConfigChangeSummary, rejectedSummary, SUMMARY_MARKER, type Reviewed } from "./summary.ts";

/** Located comments per review, beyond the summary (which lists every error that fits). */
export const MAX_LOCATED_COMMENTS = 20;

export type ReviewOutcome =
  | { readonly kind: "superseded"; readonly pullRequest: string; readonly eventCommit: string; readonly currentCommit: string }
  | { readonly kind: "not-reviewed"; readonly pullRequest: string; readonly reason: string }
  | {
    readonly kind: "no-config-change" | "rejected" | "valid"; readonly pullRequest: string; readonly commit: string;
    readonly approved: boolean; readonly errors: readonly ConfigIssue[]; readonly redeploy: readonly string[];
    readonly newNames: readonly string[]; readonly summary: "posted" | "replaced"; readonly located: number;
    /** Located comments CodeCommit refused: reported, never fatal (the summary has every error). */
    readonly commentFailures: readonly string[];
    /** The pull request moved on while this review ran: the approval was not set (the next event's review sets it). */
    readonly approvalSkipped: boolean;
  };

export async function reviewPullRequest(ports: ReviewPorts, request: { pullRequestId: string; sourceCommit: string }): Promise<ReviewOutcome> {
  const prs = ports.pullRequests;
  const pr = await prs.get(request.pullRequestId);
  const id = pr.id;
  if (!pr.open) return { kind: "not-reviewed", pullRequest: id, reason: "the pull request is closed" };
  if (pr.destinationReference !== `refs/heads/${ports.branch}`) {
    return { kind: "not-reviewed", pullRequest: id, reason: `it goes into ${pr.destinationReference}, not ${ports.branch}` };
  }
  if (pr.sourceCommit !== request.sourceCommit) {
    return { kind: "superseded", pullRequest: id, eventCommit: request.sourceCommit, currentCommit: pr.sourceCommit };
  }

  const source = recordingTree(prs.treeAt(pr.sourceCommit));
  const loaded = await loadFleet(source);
  const accepted = await ports.accepted.load();
  const reviewed: Reviewed = {
    sourceCommit: pr.sourceCommit,
    baseline: accepted ? `the accepted config (${accepted.commit.slice(0, 12)}, what the fleet runs)` : `${ports.branch} at ${pr.destinationCommit.slice(0, 12)}`,
    localCommand: `fleet diff <clone> ${ports.branch}..${pr.sourceCommit.slice(0, 12)}`,
  };

  const changed = await prs.changedPaths(pr.mergeBase ?? pr.destinationCommit, pr.sourceCommit);
  const read = new Set([FLEET_FILE, ...Object.keys(source.readFiles()), ...Object.keys(accepted?.files ?? {})]);
  const common = { pullRequest: id, commit: pr.sourceCommit, errors: [] as ConfigIssue[], redeploy: [] as string[], newNames: [] as string[], located: 0, commentFailures: [] as string[] };

  if (loaded.ok && !changed.some((path) => read.has(path))) {
    const summary = await replaceSummary(ports, pr, noConfigChangeSummary(reviewed, changed));
    return { ...common, kind: "no-config-change", approved: true, summary, approvalSkipped: !(await prs.approve(pr, true)) };
  }

  if (!loaded.ok) {
    const summary = await replaceSummary(ports, pr, rejectedSummary(reviewed, loaded.errors));
    const { located, failures } = await commentErrors(ports, pr, loaded.errors, source.readFiles());
    return { ...common, kind: "rejected", approved: false, errors: loaded.errors, summary, located, commentFailures: failures, approvalSkipped: !(await prs.approve(pr, false)) };
  }

  const baseline = await baselineModel(ports, pr, accepted);
  const diff = diffFleets(baseline.model, loaded.model);
  const summary = await replaceSummary(ports, pr, acceptedSummary(reviewed, diff, baseline.note, loaded.warnings));
  return {
    ...common, kind: "valid", approved: true, summary,
    redeploy: redeployed(diff).map((s) => s.service), newNames: diff.names.added,
    approvalSkipped: !(await prs.approve(pr, true)),
  };
}

/**
 * What the change is compared with: the accepted snapshot (with pinned services as they run), else the
 * destination branch's commit. A baseline that does not load is compared as empty, and the summary says why.
 */
async function baselineModel(ports: ReviewPorts, pr: PullRequest, accepted: Awaited<ReturnType<ReviewPorts["accepted"]["load"]>>): Promise<{ model?: FleetModel; note?: string }> {
  const loaded = await loadFleet(accepted ? new MemoryTree({ ...accepted.files }) : ports.pullRequests.treeAt(pr.destinationCommit));
  if (!loaded.ok) return { note: `That config does not load (${loaded.errors.length} error(s)), so every service shows as added.` };
  return { model: accepted ? await runningModel(loaded.model, Object.entries(accepted.pinned ?? {})) : loaded.model };
}

/** Replaces this reviewer's earlier summary when there is one it may edit; posts a new one otherwise. */
async function replaceSummary(ports: ReviewPorts, pr: PullRequest, content: string): Promise<"posted" | "replaced"> {
  const earlier = (await ports.pullRequests.comments(pr)).filter((c) => c.content.startsWith(SUMMARY_MARKER));
  // The newest first: it is the one readers see last.
  for (const comment of earlier.reverse()) {
    if (comment.content === content) return "replaced";
    if (await ports.pullRequests.update(comment.id, content)) return "replaced";
  }
  await ports.pullRequests.post(pr, content);
  return "posted";
}

/**
 * A comment at each error's file and line, when the file is in the source commit and the line in the file
 * (CodeCommit refuses any other place); the rest are in the summary only.
 */
async function commentErrors(
  ports: ReviewPorts, pr: PullRequest, errors: readonly ConfigIssue[], files: Readonly<Record<string, string>>,
): Promise<{ located: number; failures: string[] }> {
  const locatable = errors.filter((e) => {
    const content = files[e.file];
    return content !== undefined && e.line >= 1 && e.line <= lineCount(content);
  }).slice(0, MAX_LOCATED_COMMENTS);
  const failures: string[] = [];
  let located = 0;
  for (const e of locatable) {
    try {
      await ports.pullRequests.post(pr, clip(`proxy-fleet: **${e.rule}**: ${e.message}`, ITEM_LIMIT), { filePath: e.file, filePosition: e.line });
      located++;
    } catch (error) {
      failures.push(`${(error as { name?: string }).name ?? "Error"} on ${e.file}:${e.line}: ${clip((error as Error).message ?? String(error), ITEM_LIMIT)}`);
    }
  }
  return { located, failures };
}
