// Lambda: the DNS sync loop. Triggered by an EventBridge schedule and by Route 53 record changes.
// Parse the event → one sync run → metrics and a log line. A malformed event changes nothing; a Route 53
// change that failed, that is in a zone the deployment does not watch, or that only deletes, changes
// nothing either and is counted.
import { randomUUID } from "node:crypto";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { dnsSyncPorts } from "./aws/dns-sync-ports.ts";
import { DnsSyncEvent, triage, type IgnoredChanges } from "./dns/events.ts";
import { LookupSchedule } from "./dns/ports.ts";
import { syncDns, type SyncReport } from "./dns/sync.ts";
import { NAME_FAILING_LONG_MS } from "./dns/tracker.ts";
import { eventHandler, once, powertools } from "./lambda.ts";

const tools = powertools("dns-sync");
const { logger, metrics, instrument } = tools;
// Survives warm invocations, so TTLs are honoured between scheduled runs.
const schedule = new LookupSchedule();
// One lease holder per execution environment (which runs one invocation at a time): a lease whose
// acquire or release answer was lost is this environment's own on the next run, not stuck until it expires.
const leaseHolder = `dns-sync-${randomUUID()}`;
const ports = once(() => dnsSyncPorts(schedule, instrument));

export const handler = eventHandler(tools, DnsSyncEvent, async (event) => {
  const { request, ignored } = triage(event, ports().zones?.ids);
  recordIgnored(ignored);
  if (!request) {
    logger.info("dns sync: the event changes nothing", { ignored: { ...ignored } });
    return { looked: 0, ignored };
  }
  const report = await syncDns(request, ports(), { now: Date.now(), runId: leaseHolder });
  recordMetrics(report);
  const summary = { ...summarize(report), ignored };
  logger.info("dns sync finished", { ...summary });
  return summary;
});

export function summarize(report: SyncReport) {
  return {
    commit: report.commit,
    skipped: report.skipped,
    looked: report.looked.length,
    fromZone: report.looked.filter((r) => r.source === "zone").length,
    failures: report.looked.filter((r) => r.observation === "failure").map((r) => `${r.record} ${r.failure}`),
    held: report.looked.filter((r) => r.held.length > 0).map((r) => `${r.record}: ${r.held.join(" ")}`),
    documentsWritten: report.documents.map((d) => d.service),
    registered: report.targetGroups.flatMap((g) => g.register.map((t) => `${g.group} ${t.id}:${t.port}`)),
    deregistered: report.targetGroups.flatMap((g) => g.deregister.map((t) => `${g.group} ${t.id}:${t.port}`)),
    groups: groupChecks(report),
  };
}

/**
 * How the run looked at the target groups; a changed group planned from its mark was not described; a full check
 * that had to register or deregister repaired drift made elsewhere.
 */
export function groupChecks(report: SyncReport) {
  const counts = { skipped: 0, changed: 0, changedFromMark: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 };
  for (const g of report.targetGroups) {
    if (g.check === "skip") counts.skipped++;
    else if (g.check === "deferred") counts.fullChecksDeferred++;
    else if (g.check === "changed") {
      counts.changed++;
      if (g.fromMark) counts.changedFromMark++;
    }
    else if (g.check === "full") {
      counts.fullChecks++;
      if (g.register.length + g.deregister.length > 0) counts.driftRepaired++;
    }
  }
  return counts;
}

function recordIgnored(ignored: IgnoredChanges): void {
  metrics.addMetric("Route53ChangesIgnoredFailedCall", MetricUnit.Count, ignored.failedCall);
  metrics.addMetric("Route53ChangesIgnoredUnwatchedZone", MetricUnit.Count, ignored.unwatchedZone);
  metrics.addMetric("Route53ChangesIgnoredDeletion", MetricUnit.Count, ignored.deletion);
}

function recordMetrics(report: SyncReport): void {
  const count = (name: string, value: number) => metrics.addMetric(name, MetricUnit.Count, value);
  const registered = report.targetGroups.reduce((n, g) => n + g.register.length, 0);
  const deregistered = report.targetGroups.reduce((n, g) => n + g.deregister.length, 0);
  count("NamesResolved", report.looked.filter((r) => r.observation !== "failure").length);
  count("NamesReadFromZone", report.looked.filter((r) => r.source === "zone").length);
  count("LookupFailures", report.looked.filter((r) => r.observation === "failure").length);
  count("NamesFailingLong", report.looked.filter((r) => r.failingForMs >= NAME_FAILING_LONG_MS).length);
  count("TargetsRegistered", registered);
  count("TargetsDeregistered", deregistered);
  count("RemovalsHeld", report.looked.reduce((n, r) => n + r.held.length, 0));
  count("RemovalsHeldAnnounced", report.looked.filter((r) => r.announced).length);
  count("TargetsSkipped", report.targetGroups.reduce((n, g) => n + g.skipped.length, 0));
  count("Drift", registered + deregistered + report.documents.length);
  count("StateConflicts", report.stateConflicts);
  const groups = groupChecks(report);
  count("TargetGroupsSkipped", groups.skipped);
  count("TargetGroupFullChecks", groups.fullChecks);
  count("TargetGroupDriftRepaired", groups.driftRepaired);
  count("TargetGroupFullChecksDeferred", groups.fullChecksDeferred);
}
