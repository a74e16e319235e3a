// Lambda: the instance-heal loop. A launching proxy instance gets its service's persistent ENI and
// Elastic IP before it enters service; a dying one gives its ENI back early.
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { healClients } from "./aws/ec2.ts";
import { requireEnv } from "./aws/clients.ts";
import { leaseStore } from "./aws/state-table.ts";
import { HealEvent, serviceOfGroup } from "./heal/events.ts";
import {
  DEFAULT_POLICY, HEAL_TIMEOUT_SECONDS, LEAVING_STATES, continueIntoWarmPool, healLaunch, healTermination, healWorstCaseMs, type HealPolicy,
  type HealPorts,
} from "./heal/heal.ts";
import { eventHandler, once, powertools } from "./lambda.ts";

const tools = powertools("instance-heal");
const { logger, metrics, instrument } = tools;

const ports = once((): HealPorts => {
  const { ec2, autoScaling, dynamo } = healClients(requireEnv("PROXY_FLEET_STAGE"), instrument);
  return {
    ec2, autoScaling,
    leases: leaseStore(dynamo, requireEnv("STATE_TABLE")),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
  };
});

/**
 * HEAL_MAX_ATTEMPTS and HEAL_BACKOFF_MS tune the retries, within the budget the stack sized the Lambda timeout
 * and the hook's heartbeat timeout for (HEAL_TIMEOUT_SECONDS): a setting beyond it is refused, loudly.
 */
function policy(): HealPolicy {
  const tuned = {
    ...DEFAULT_POLICY,
    ...(process.env.HEAL_MAX_ATTEMPTS ? { maxAttempts: Number(process.env.HEAL_MAX_ATTEMPTS) } : {}),
    ...(process.env.HEAL_BACKOFF_MS ? { backoffMs: Number(process.env.HEAL_BACKOFF_MS) } : {}),
  };
  const worstMs = healWorstCaseMs(tuned);
  if (Number.isInteger(tuned.maxAttempts) && tuned.maxAttempts >= 1 && worstMs <= HEAL_TIMEOUT_SECONDS * 1000) return tuned;
  logger.error("HEAL_MAX_ATTEMPTS / HEAL_BACKOFF_MS exceed the heal budget; using the defaults", { tuned, worstMs, budgetMs: HEAL_TIMEOUT_SECONDS * 1000 });
  return DEFAULT_POLICY;
}

/** Events about instances that are gone or belong to no proxy-fleet service of this stage: normal, but counted. */
const countNotOurs = () => metrics.addMetric("NotOurs", MetricUnit.Count, 1);

export const handler = eventHandler(tools, HealEvent, async (event) => {
  if (event["detail-type"] === "EC2 Instance State-change Notification") {
    const { "instance-id": instanceId, state } = event.detail;
    if (!(LEAVING_STATES as readonly string[]).includes(state)) return { kind: "ignored", state };
    // A serving instance stopping or shutting down is replaced now (SetInstanceHealth), not at its next health check.
    const outcome = await healTermination(instanceId, state, ports());
    if (outcome.kind === "not-ours") countNotOurs();
    logger.info("instance leaving", { instanceId, state, ...outcome });
    return outcome;
  }
  const d = event.detail;
  const hook = {
    autoScalingGroupName: d.AutoScalingGroupName, lifecycleHookName: d.LifecycleHookName,
    lifecycleActionToken: d.LifecycleActionToken, instanceId: d.EC2InstanceId,
  };
  if (d.Destination === "WarmPool") {
    const warming = await continueIntoWarmPool(hook, ports());
    logger.info("instance entering the warm pool: no ENI, no Elastic IP", { instanceId: hook.instanceId, origin: d.Origin, ...warming });
    return warming;
  }
  const outcome = await healLaunch(hook, Date.parse(event.time), ports(), policy(), serviceOfGroup(d.AutoScalingGroupName));
  switch (outcome.kind) {
    case "continued":
      metrics.addMetric("AttachSeconds", MetricUnit.Seconds, outcome.attachedAfterMs / 1000);
      metrics.addMetric("AttachAttempts", MetricUnit.Count, outcome.attempts);
      // Origin WarmPool: a warm start; EC2: a cold launch, the fallback when the pool was empty.
      logger.info("instance healed", { instanceId: hook.instanceId, origin: d.Origin ?? "EC2", ...outcome });
      break;
    case "abandoned":
      metrics.addMetric("HealFailures", MetricUnit.Count, 1);
      logger.error("launch abandoned", { instanceId: hook.instanceId, reason: outcome.reason, attempts: outcome.attempts });
      break;
    case "not-ours":
      countNotOurs();
      logger.info("not ours: nothing to heal", { instanceId: hook.instanceId, ...outcome });
      break;
    default:
      logger.info("nothing to heal", { instanceId: hook.instanceId, ...outcome });
  }
  return outcome;
});
