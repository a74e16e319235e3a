// Lambda: the config rollout loop. Triggered by CodeCommit pushes to the config repository; reconciles
// the fleet to the tracked branch's head: validate, render, store bundles, roll out changed services.
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { formatIssue } from "./fleet/issues.ts";
import { rolloutPorts, rolloutSettings } from "./aws/rollout-ports.ts";
import { eventHandler, once, powertools } from "./lambda.ts";
import { CodeCommitStateChange, ignoredBecause } from "./rollout/events.ts";
import { reconcileRollout } from "./rollout/run.ts";

const tools = powertools("config-rollout");
const { logger, metrics, instrument } = tools;
const ports = once(() => rolloutPorts(instrument));

export const handler = eventHandler(tools, CodeCommitStateChange, async (event) => {
  const { repository, branch } = rolloutSettings();
  const ignored = ignoredBecause(event, repository, branch);
  if (ignored) {
    logger.info("event ignored", { reason: ignored });
    return { ignored };
  }
  const outcome = await reconcileRollout(ports());
  switch (outcome.kind) {
    case "rejected":
      metrics.addMetric("CommitsRejected", MetricUnit.Count, 1);
      // The full list: comments and the event may carry only the first ones.
      logger.warn("commit rejected", { commit: outcome.commit, errorCount: outcome.errors.length, errors: outcome.errors.map(formatIssue) });
      break;
    case "accepted":
      metrics.addMetric("CommitsAccepted", MetricUnit.Count, 1);
      metrics.addMetric("ServicesRolledOut", MetricUnit.Count, outcome.deployments.length);
      logger.info("commit accepted", {
        commit: outcome.commit, deployments: outcome.deployments.map((d) => d.service),
        services: Object.fromEntries(outcome.actions.map((a) => [a.service, a.action])),
      });
      break;
    default:
      logger.info("nothing to roll out", { outcome: outcome.kind, commit: outcome.commit });
  }
  if ("commentFailures" in outcome && outcome.commentFailures.length > 0) {
    metrics.addMetric("CommentsFailed", MetricUnit.Count, outcome.commentFailures.length);
    logger.warn("CodeCommit refused comments; the run went on", { commit: outcome.commit, failures: outcome.commentFailures });
  }
  return summarize(outcome);
});

export function summarize(outcome: Awaited<ReturnType<typeof reconcileRollout>>) {
  switch (outcome.kind) {
    case "accepted":
      return {
        outcome: outcome.kind, commit: outcome.commit,
        services: Object.fromEntries(outcome.actions.map((a) => [a.service, a.action])),
        deployments: outcome.deployments.map((d) => ({ service: d.service, taskDefinition: d.taskDefinition, deploymentId: d.deploymentId })),
        ...(outcome.commentFailures.length > 0 ? { commentFailures: outcome.commentFailures } : {}),
      };
    case "rejected":
      return {
        outcome: outcome.kind, commit: outcome.commit, errors: outcome.errors.map((e) => `${e.file}:${e.line} ${e.rule}: ${e.message}`),
        ...(outcome.commentFailures.length > 0 ? { commentFailures: outcome.commentFailures } : {}),
      };
    default:
      return { outcome: outcome.kind, commit: outcome.commit };
  }
}
