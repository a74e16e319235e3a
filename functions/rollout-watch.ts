// Lambda: the rollout watch. Triggered by "ECS Deployment State Change": a failed, rolled-back deployment
// pins its bundle version as failed; a completed one is reported on its commit.
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { watchPorts } from "./aws/rollout-ports.ts";
import { eventHandler, once, powertools } from "./lambda.ts";
import { EcsDeploymentStateChange } from "./rollout/events.ts";
import { watchDeployment } from "./rollout/watch.ts";

const tools = powertools("rollout-watch");
const { logger, metrics, instrument } = tools;
const ports = once(() => watchPorts(instrument));

export const handler = eventHandler(tools, EcsDeploymentStateChange, async (event) => {
  const outcome = await watchDeployment(event.detail, ports());
  if (outcome.kind === "failed") metrics.addMetric("DeploymentsFailed", MetricUnit.Count, 1);
  if ("commentFailures" in outcome && outcome.commentFailures) metrics.addMetric("CommentsFailed", MetricUnit.Count, outcome.commentFailures.length);
  logger.info("deployment event handled", { ...outcome });
  return outcome;
});
