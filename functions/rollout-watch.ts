// Lambda: the rollout watch. Triggered by "ECS Deployment State Change": a failed, rolled-back deployment
// pins its bundle version as failed; a completed one is reported on its commit.
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { parser } from "@aws-lambda-powertools/parser/middleware";
import middy from "@middy/core";
import { watchPorts } from "./aws/rollout-ports.ts";
import { eventProblems, powertools } from "./lambda.ts";
import { EcsDeploymentStateChange } from "./rollout/events.ts";
import { watchDeployment } from "./rollout/watch.ts";

const { logger, metrics, middlewares, instrument } = powertools("rollout-watch");

export const handler = middy()
  .use(middlewares)
  .use(parser({ schema: EcsDeploymentStateChange, safeParse: true }))
  .handler(async (parsed) => {
    if (!parsed.success) {
      logger.error("rejected a malformed event; nothing was changed", { problems: eventProblems(parsed.error) });
      return { rejected: true };
    }
    const outcome = await watchDeployment(parsed.data.detail, watchPorts(instrument));
    if (outcome.kind === "failed") metrics.addMetric("DeploymentsFailed", MetricUnit.Count, 1);
    logger.info("deployment event handled", { ...outcome });
    return outcome;
  });
