// Lambda: the pull-request review. Triggered by CodeCommit pull-request events into the tracked branch; says on
// the pull request whether its config is valid and what would change on which proxy, and approves or revokes.
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { reviewPorts, reviewSettings } from "./aws/pull-requests.ts";
import { eventHandler, once, powertools } from "./lambda.ts";
import { ignoredBecause, PullRequestStateChange } from "./review/events.ts";
import { reviewPullRequest } from "./review/run.ts";

const tools = powertools("pull-request");
const { logger, metrics, instrument } = tools;
const ports = once(() => reviewPorts(instrument));

export const handler = eventHandler(tools, PullRequestStateChange, async (event) => {
  const { repository, branch } = reviewSettings();
  const ignored = ignoredBecause(event, repository, branch);
  if (ignored) {
    logger.info("event ignored", { reason: ignored });
    return { ignored };
  }
  const outcome = await reviewPullRequest(ports(), { pullRequestId: event.detail.pullRequestId, sourceCommit: event.detail.sourceCommit });
  if (outcome.kind === "superseded" || outcome.kind === "not-reviewed") {
    logger.info("nothing to report", { ...outcome });
    return outcome;
  }
  metrics.addMetric(outcome.approved ? "PullRequestsApproved" : "PullRequestsRejected", MetricUnit.Count, 1);
  if (outcome.commentFailures.length > 0) {
    metrics.addMetric("CommentsFailed", MetricUnit.Count, outcome.commentFailures.length);
    logger.warn("CodeCommit refused comments; the review went on", { failures: outcome.commentFailures });
  }
  logger.info("pull request reviewed", {
    pullRequest: outcome.pullRequest, commit: outcome.commit, outcome: outcome.kind, redeploy: outcome.redeploy,
    newNames: outcome.newNames, errorCount: outcome.errors.length, approvalSkipped: outcome.approvalSkipped,
  });
  const { errors, ...rest } = outcome;
  return { ...rest, errors: errors.map((e) => `${e.file}:${e.line} ${e.rule}: ${e.message}`) };
});
