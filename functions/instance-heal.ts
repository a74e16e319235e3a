// Lambda: the instance-heal loop. A launching proxy instance gets its service's persistent ENI and
// Elastic IP before it enters service; a dying one gives its ENI back early.
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { healClients } from "./aws/ec2.ts";
import { requireEnv, createClients } from "./aws/clients.ts";
import { leaseStore } from "./aws/state-table.ts";
import { HealEvent } from "./heal/events.ts";
import { DEFAULT_POLICY, healLaunch, healTermination, type HealPolicy, type HealPorts } from "./heal/heal.ts";
import { eventHandler, once, powertools } from "./lambda.ts";

const tools = powertools("instance-heal");
const { logger, metrics, instrument } = tools;

const ports = once((): HealPorts => ({
  ...healClients(instrument),
  leases: leaseStore(instrument(createClients().dynamo), requireEnv("STATE_TABLE")),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
}));

/** HEAL_MAX_ATTEMPTS and HEAL_BACKOFF_MS tune the retries; the lifecycle hook's heartbeat timeout bounds them anyway. */
function policy(): HealPolicy {
  return {
    ...DEFAULT_POLICY,
    ...(process.env.HEAL_MAX_ATTEMPTS ? { maxAttempts: Number(process.env.HEAL_MAX_ATTEMPTS) } : {}),
    ...(process.env.HEAL_BACKOFF_MS ? { backoffMs: Number(process.env.HEAL_BACKOFF_MS) } : {}),
  };
}

export const handler = eventHandler(tools, HealEvent, async (event) => {
  if (event["detail-type"] === "EC2 Instance State-change Notification") {
    const { "instance-id": instanceId, state } = event.detail;
    if (state !== "shutting-down" && state !== "terminated") return { kind: "ignored", state };
    const outcome = await healTermination(instanceId, ports());
    logger.info("instance leaving", { instanceId, state, ...outcome });
    return outcome;
  }
  const d = event.detail;
  const hook = {
    autoScalingGroupName: d.AutoScalingGroupName, lifecycleHookName: d.LifecycleHookName,
    lifecycleActionToken: d.LifecycleActionToken, instanceId: d.EC2InstanceId,
  };
  const outcome = await healLaunch(hook, Date.parse(event.time), ports(), policy());
  switch (outcome.kind) {
    case "continued":
      metrics.addMetric("AttachSeconds", MetricUnit.Seconds, outcome.attachedAfterMs / 1000);
      metrics.addMetric("AttachAttempts", MetricUnit.Count, outcome.attempts);
      logger.info("instance healed", { instanceId: hook.instanceId, ...outcome });
      break;
    case "abandoned":
      metrics.addMetric("HealFailures", MetricUnit.Count, 1);
      logger.error("launch abandoned", { instanceId: hook.instanceId, reason: outcome.reason, attempts: outcome.attempts });
      break;
    default:
      logger.info("nothing to heal", { instanceId: hook.instanceId, ...outcome });
  }
  return outcome;
});
