// Lambda: the task-targets loop. Keeps every listener target group beyond an ECS service's native one equal
// to the IPs of the service's running tasks (an ECS service takes at most five target groups). Triggered by
// "ECS Task State Change" (look at that task's service now) and a schedule (look at every service).
import { randomUUID } from "node:crypto";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { taskTargetPorts, taskTargetSettings } from "./aws/task-targets-ports.ts";
import { eventHandler, once, powertools } from "./lambda.ts";
import { servicesFor, TaskTargetsEvent } from "./targets/events.ts";
import { reconcileService, type ServiceOutcome } from "./targets/reconcile.ts";

const tools = powertools("task-targets");
const { logger, metrics, instrument } = tools;
const ports = once(() => taskTargetPorts(instrument));
const settings = once(taskTargetSettings);

export const handler = eventHandler(tools, TaskTargetsEvent, async (event) => {
  const services = servicesFor(event, settings());
  if (services.length === 0) {
    metrics.addMetric("EventsIgnored", MetricUnit.Count, 1);
    logger.info("event ignored: the task is not of a service with task target groups", { resources: event.resources });
    return { services: [] };
  }
  const runId = randomUUID();
  const outcomes: ServiceOutcome[] = [];
  const failures: string[] = [];
  // One service failing never stops the others; the run still fails at the end, so it is retried.
  for (const spec of services) {
    try {
      outcomes.push(await reconcileService(spec, ports(), { now: Date.now(), runId }));
    } catch (error) {
      failures.push(`${spec.service}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  recordMetrics(outcomes, failures.length);
  const report = summarize(outcomes);
  for (const held of outcomes.filter((o) => o.held)) logger.warn("deregistrations held", { service: held.service, reason: held.held });
  if (failures.length > 0) {
    logger.error("task targets not converged", { failures, ...report });
    throw new Error(`task targets not converged for ${failures.length} service(s): ${failures.join("; ")}`);
  }
  logger.info("task targets converged", { ...report });
  return report;
});

export function summarize(outcomes: readonly ServiceOutcome[]) {
  return {
    services: outcomes.map((o) => ({
      service: o.service,
      addresses: o.addresses,
      registered: o.changes.reduce((n, c) => n + c.register.length, 0),
      deregistered: o.changes.reduce((n, c) => n + c.deregister.length, 0),
      ...(o.held ? { held: o.held } : {}),
      ...(o.busy ? { busy: true } : {}),
    })),
  };
}

function recordMetrics(outcomes: readonly ServiceOutcome[], failed: number): void {
  const count = (name: string, value: number) => metrics.addMetric(name, MetricUnit.Count, value);
  const changes = outcomes.flatMap((o) => o.changes);
  count("TargetsRegistered", changes.reduce((n, c) => n + c.register.length, 0));
  count("TargetsDeregistered", changes.reduce((n, c) => n + c.deregister.length, 0));
  count("DeregistrationsHeld", outcomes.filter((o) => o.held).length);
  count("ServicesBusy", outcomes.filter((o) => o.busy).length);
  count("ServicesFailed", failed);
}
