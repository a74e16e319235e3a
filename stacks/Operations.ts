// What watches a stage: its alarms, the one SNS topic they notify, and a CloudWatch dashboard, all generated
// from the deployed config (stacks/deployed.ts) and the loops the other stacks create. README "Operating" says
// what each alarm means and what to check first.
//
// Where the metrics come from:
// - the loops: Powertools EMF in namespace ProxyFleet, dimension `service` = the loop (functions/lambda.ts);
// - the data planes: the agent's EMF lines on stdout (containers/agent/metrics.ts), dimension Service (and
//   Connection for tunnels). The awslogs driver ships each line with PutLogEvents, and CloudWatch Logs extracts EMF
//   from such events without the optional `x-amzn-logs-format: json/emf` header
//   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation_PutLogEvents.html);
// - NLB target health: AWS/NetworkELB HealthyHostCount / UnHealthyHostCount by TargetGroup + LoadBalancer
//   (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html);
// - tasks: Container Insights (both clusters enable it) RunningTaskCount / DesiredTaskCount / MemoryUtilized by
//   ClusterName + ServiceName (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html);
// - strongSwan hosts' CPU: AWS/EC2 CPUUtilization by AutoScalingGroupName, sent without any agent
//   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html); memory, swap and the
//   root file system from the CloudWatch agent every host runs (stacks/StrongswanSites.ts, hostMetricsAgentConfig),
//   namespace CWAgent, aggregated by AutoScalingGroupName.
import { Duration, Stack, aws_cloudwatch as cloudwatch, aws_cloudwatch_actions as actions, type aws_elasticloadbalancingv2 as elbv2, aws_iam as iam, aws_kms as kms, aws_sns as sns, aws_sqs as sqs, aws_sns_subscriptions as subscriptions } from "aws-cdk-lib";
import type { Function } from "sst/constructs";
import { METRIC_NAMESPACE } from "../containers/agent/metrics.ts";
import { use, type StackContext } from "sst/constructs";
import type { ServiceModelOf } from "../functions/fleet/load.ts";
import { deployedFleet } from "./deployed.ts";
import { ProxyServices } from "./ProxyServices.ts";
import { PullRequests } from "./PullRequests.ts";
import { Reconcilers } from "./Reconcilers.ts";
import { HOST_METRICS, HOST_METRICS_NAMESPACE, StrongswanSites } from "./StrongswanSites.ts";
import { waiveSstInternals } from "./nag.ts";
import { deploySettings, proxyClusterName, stageName, strongswanClusterName } from "./settings.ts";
import { NAME_FAILING_LONG_MS } from "../functions/dns/tracker.ts";

/** The namespace of every metric proxy-fleet itself publishes: the agents' (and the loops', functions/lambda.ts). */
export const NAMESPACE = METRIC_NAMESPACE;
/** A name is "failing for long" after this many minutes of failed lookups (the DNS loop counts them: NamesFailingLong). */
export const LOOKUP_FAILING_MINUTES = NAME_FAILING_LONG_MS / 60_000;
export const STRONGSWAN_CPU_ALARM_PERCENT = 80;
/** A strongSwan host's memory in use (the agent's mem_used_percent: all of it, charon and the rest) before paging. */
export const STRONGSWAN_MEMORY_ALARM_PERCENT = 90;
/** The root file system's use before paging: logs and images fill it slowly, so there is time to act. */
export const STRONGSWAN_DISK_ALARM_PERCENT = 80;

/** Pages someone (OK sent too), or informs (sent once, clears itself, no OK). */
export type Severity = "page" | "info";

export async function Operations({ stack }: StackContext) {
  const stage = stack.stage;
  const settings = deploySettings();
  const model = await deployedFleet();
  const reconcilers = use(Reconcilers);
  const proxies = use(ProxyServices);
  const sites = use(StrongswanSites);
  const pullRequests = use(PullRequests);

  // CloudWatch may publish to an encrypted topic only with a customer managed key whose policy lets it use the key
  // (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
  const key = new kms.Key(stack, "AlarmTopicKey", { enableKeyRotation: true, description: `proxy-fleet ${stage}: alarm topic` });
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
    actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
    resources: ["*"],
    conditions: { StringEquals: { "aws:SourceAccount": stack.account } },
  }));
  const topic = new sns.Topic(stack, "Alarms", { topicName: stageName(stage, "alarms"), masterKey: key, enforceSSL: true, displayName: `proxy-fleet ${stage} alarms` });
  if (settings.alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
  const targets = [new actions.SnsAction(topic), ...(settings.alarmTopicArn ? [new actions.SnsAction(sns.Topic.fromTopicArn(stack, "ExistingAlarmTopic", settings.alarmTopicArn))] : [])];

  const alarm = (id: string, severity: Severity, description: string, props: Omit<cloudwatch.AlarmProps, "alarmName" | "alarmDescription">) => {
    const created = new cloudwatch.Alarm(stack, id, {
      alarmName: stageName(stage, severity, id),
      alarmDescription: `proxy-fleet ${stage} (${severity}): ${description}`,
      ...props,
    });
    created.addAlarmAction(...targets);
    if (severity === "page") created.addOkAction(...targets);
    return created;
  };
  const fleetMetric = (metricName: string, dimensionsMap: Record<string, string>, statistic = "Sum", period = Duration.minutes(1)) =>
    new cloudwatch.Metric({ namespace: NAMESPACE, metricName, dimensionsMap, statistic, period });
  const loopMetric = (loop: string, metricName: string, statistic = "Sum", period = Duration.minutes(1)) => fleetMetric(metricName, { service: loop }, statistic, period);

  // --- the loops ------------------------------------------------------------------------------------------------
  const loops: Record<string, Function> = {
    "dns-sync": reconcilers.dnsSync, "config-rollout": reconcilers.configRollout, "rollout-watch": reconcilers.rolloutWatch,
    "task-targets": reconcilers.taskTargets, "instance-heal": sites.instanceHeal, "pull-request": pullRequests.review,
  };
  for (const [loop, fn] of Object.entries(loops)) {
    const id = pascal(loop);
    alarm(`${id}Errors`, "page", `${loop} Lambda failed (Errors > 0 in 5 minutes); read its log group's ERROR lines`, {
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }), threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm(`${id}Throttles`, "page", `${loop} Lambda was throttled (Throttles > 0 in 5 minutes); check the account's concurrency`, {
      metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: "Sum" }), threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm(`${id}Failures`, "page", `events ${loop} could not handle are waiting in its failures queue; read one, fix, redrive`, {
      metric: failuresOf(fn).metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: "Maximum" }), threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
  const countAlarm = (id: string, severity: Severity, loop: string, metricName: string, description: string) => alarm(id, severity, description, {
    metric: loopMetric(loop, metricName, "Sum", Duration.minutes(5)), threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  countAlarm("HealFailures", "page", "instance-heal", "HealFailures", "a launching strongSwan instance did not get its persistent ENI / Elastic IP");
  countAlarm("RemovalsHeld", "page", "dns-sync", "RemovalsHeld", "the DNS loop holds back removing addresses (a list would shrink past maxShrinkPercent)");
  countAlarm("DeploymentsFailed", "page", "rollout-watch", "DeploymentsFailed", "an ECS deployment of a config version failed and was rolled back; the version is pinned");
  countAlarm("CommitsRejected", "info", "config-rollout", "CommitsRejected", "a commit to the config repository failed validation; nothing was rolled out (the commit has a comment)");

  // The DNS loop keeps, per name, when its lookups began failing; each run counts the names failing that long.
  alarm("LookupsFailing", "page", `a name's lookups have failed for ${LOOKUP_FAILING_MINUTES} minutes without a break; its targets stay at the last known good`, {
    metric: loopMetric("dns-sync", "NamesFailingLong", "Maximum", Duration.minutes(5)), threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });

  // --- the proxy services ---------------------------------------------------------------------------------------
  const ecsRunningAlarm = (id: string, cluster: string, service: string) => {
    const dimensionsMap = { ClusterName: cluster, ServiceName: service };
    const insights = (metricName: string) => new cloudwatch.Metric({ namespace: "ECS/ContainerInsights", metricName, dimensionsMap, statistic: "Average", period: Duration.minutes(1) });
    // A rolling deployment or a heal runs short for minutes; five in a row is a service that cannot keep its tasks.
    return alarm(`${id}TasksMissing`, "page", `${service}: fewer tasks running than desired for 5 minutes; read the service's events and stopped tasks' reasons`, {
      metric: new cloudwatch.MathExpression({
        expression: "desired - running", usingMetrics: { desired: insights("DesiredTaskCount"), running: insights("RunningTaskCount") },
        period: Duration.minutes(1), label: `${service} tasks missing`,
      }),
      threshold: 0, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 5, datapointsToAlarm: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  };
  for (const [service, { targetGroups }] of Object.entries(proxies.loadBalancers)) {
    const id = pascal(service);
    targetGroups.forEach((group, i) => {
      const port = `${id}Group${i}`;
      alarm(`${port}Unhealthy`, "page", `${service}: an NLB target (listener target group ${i}) fails its health check; check the task's /healthz and the agent's log`, {
        metric: group.metrics.unHealthyHostCount({ statistic: "Maximum", period: Duration.minutes(1) }), threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 3, datapointsToAlarm: 3, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm(`${port}NoHealthy`, "page", `${service}: no healthy target behind listener target group ${i}: that port is down`, {
        metric: group.metrics.healthyHostCount({ statistic: "Minimum", period: Duration.minutes(1) }), threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    });
    ecsRunningAlarm(id, proxyClusterName(stage), service);
  }

  // --- the strongSwan sites -------------------------------------------------------------------------------------
  const strongswan = model.services.filter((s): s is ServiceModelOf<"strongswan"> => s.kind === "strongswan");
  for (const site of strongswan) {
    const id = pascal(site.name);
    ecsRunningAlarm(id, strongswanClusterName(stage), site.name);
    alarm(`${id}HostCpu`, "page", `${site.name}: the host's CPU above ${STRONGSWAN_CPU_ALARM_PERCENT}% for 10 minutes (IKE storms, rekeys, forwarding load)`, {
      metric: new cloudwatch.Metric({ namespace: "AWS/EC2", metricName: "CPUUtilization", dimensionsMap: { AutoScalingGroupName: stageName(stage, site.name) }, statistic: "Average", period: Duration.minutes(5) }),
      threshold: STRONGSWAN_CPU_ALARM_PERCENT, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 2, treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    alarm(`${id}HostMemory`, "page", `${site.name}: the host's memory in use above ${STRONGSWAN_MEMORY_ALARM_PERCENT}% for 10 minutes (CloudWatch agent mem_used_percent)`, {
      metric: hostMetric(stage, site.name, HOST_METRICS.memory), threshold: STRONGSWAN_MEMORY_ALARM_PERCENT,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 2, treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    alarm(`${id}HostDisk`, "page", `${site.name}: the host's root file system above ${STRONGSWAN_DISK_ALARM_PERCENT}% full for 10 minutes (CloudWatch agent disk_used_percent, /)`, {
      metric: hostMetric(stage, site.name, HOST_METRICS.disk), threshold: STRONGSWAN_DISK_ALARM_PERCENT,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 2, treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    for (const connection of site.noIpsec ? [] : site.connections) {
      // No data is no agent reporting the tunnel: as bad as down.
      alarm(`${id}${pascal(connection.name)}TunnelDown`, "page", `${site.name} ${connection.name}: the IPsec tunnel is not up (TunnelUp < 1 for 3 minutes); check charon's log and the peer`, {
        metric: fleetMetric("TunnelUp", { Service: site.name, Connection: connection.name }, "Minimum"), threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, evaluationPeriods: 3, datapointsToAlarm: 3, treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }
  }

  dashboard(stack, { stage, model, loops, proxies, fleetMetric, loopMetric });
  waiveSstInternals(stack);
  stack.addOutputs({ AlarmTopic: topic.topicArn, Dashboard: stageName(stage, "operations") });
  return { topic };
}

type Ctx = {
  stage: string;
  model: Awaited<ReturnType<typeof deployedFleet>>;
  loops: Record<string, Function>;
  proxies: { readonly loadBalancers: Record<string, { readonly nlb: elbv2.NetworkLoadBalancer; readonly targetGroups: readonly elbv2.NetworkTargetGroup[] }> };
  fleetMetric: (name: string, dimensions: Record<string, string>, statistic?: string) => cloudwatch.Metric;
  loopMetric: (loop: string, name: string, statistic?: string) => cloudwatch.Metric;
};

/** Per service its traffic and health, per tunnel its state, per loop runs/errors/duration, DNS failures, the last commits. */
function dashboard(stack: Stack, { stage, model, loops, proxies, fleetMetric, loopMetric }: Ctx) {
  const board = new cloudwatch.Dashboard(stack, "Dashboard", { dashboardName: stageName(stage, "operations"), defaultInterval: Duration.hours(3) });
  const text = (markdown: string) => new cloudwatch.TextWidget({ markdown, width: 24, height: 1 });
  const graph = (title: string, left: cloudwatch.IMetric[], width = 8) => new cloudwatch.GraphWidget({ title, left, width, height: 6 });

  board.addWidgets(text(`# proxy-fleet ${stage}: config`));
  board.addWidgets(
    new cloudwatch.SingleValueWidget({
      title: "Commits accepted / rejected (dashboard range)", width: 12, height: 4, setPeriodToTimeRange: true,
      metrics: [loopMetric("config-rollout", "CommitsAccepted"), loopMetric("config-rollout", "CommitsRejected"), loopMetric("rollout-watch", "DeploymentsFailed")],
    }),
    new cloudwatch.LogQueryWidget({
      title: "Last commits (accepted or rejected)", width: 12, height: 4,
      logGroupNames: [loops["config-rollout"]!.logGroup.logGroupName],
      queryLines: ["fields @timestamp, message, commit", "filter message in [\"commit accepted\", \"commit rejected\"]", "sort @timestamp desc", "limit 5"],
    }),
  );

  board.addWidgets(text("## Loops: runs, errors, duration"));
  board.addWidgets(...Object.entries(loops).map(([loop, fn]) => new cloudwatch.GraphWidget({
    title: loop, width: 8, height: 6,
    left: [fn.metricInvocations({ statistic: "Sum" }), fn.metricErrors({ statistic: "Sum" }), fn.metricThrottles({ statistic: "Sum" })],
    right: [fn.metricDuration({ statistic: "p99" })],
  })));

  board.addWidgets(text("## DNS"));
  board.addWidgets(
    graph("Lookups", [loopMetric("dns-sync", "NamesResolved"), loopMetric("dns-sync", "LookupFailures"), loopMetric("dns-sync", "RemovalsHeld")]),
    graph("Targets", [loopMetric("dns-sync", "TargetsRegistered"), loopMetric("dns-sync", "TargetsDeregistered"), loopMetric("task-targets", "TargetsRegistered"), loopMetric("task-targets", "TargetsDeregistered")]),
    new cloudwatch.LogQueryWidget({
      title: "Names failing (latest runs)", width: 8, height: 6,
      logGroupNames: [loops["dns-sync"]!.logGroup.logGroupName],
      queryLines: ["fields @timestamp, failures.0, failures.1, failures.2", "filter message = \"dns sync finished\" and ispresent(failures.0)", "sort @timestamp desc", "limit 20"],
    }),
  );

  board.addWidgets(text("## Services"));
  for (const service of model.services) {
    const dimensions = { Service: service.name };
    const agent = [fleetMetric("Reloads", dimensions), fleetMetric("RefusedCandidates", dimensions), fleetMetric("TargetApplies", dimensions), fleetMetric("DaemonRestarts", dimensions)];
    const traffic: cloudwatch.IMetric[] = service.kind === "haproxy"
      ? [fleetMetric("CurrentSessions", dimensions, "Maximum"), fleetMetric("BackendsUp", dimensions, "Minimum"), fleetMetric("BackendsDown", dimensions, "Maximum")]
      : service.kind === "squid" ? [fleetMetric("RequestsDenied", dimensions)] : [];
    const balancer = proxies.loadBalancers[service.name];
    if (balancer) {
      traffic.push(balancer.nlb.metrics.activeFlowCount(), balancer.nlb.metrics.newFlowCount());
      const health = balancer.targetGroups.flatMap((g) => [g.metrics.healthyHostCount({ statistic: "Minimum" }), g.metrics.unHealthyHostCount({ statistic: "Maximum" })]);
      board.addWidgets(graph(`${service.name}: traffic`, traffic), graph(`${service.name}: target health`, health), graph(`${service.name}: agent`, agent));
      continue;
    }
    const site = service as ServiceModelOf<"strongswan">;
    const tunnels = site.noIpsec ? [] : site.connections;
    // A site without IPsec (iptables only) has no tunnel to show.
    board.addWidgets(...(tunnels.length === 0 ? [] : [
      graph(`${service.name}: tunnels up`, tunnels.map((c) => fleetMetric("TunnelUp", { Service: service.name, Connection: c.name }, "Minimum"))),
      graph(`${service.name}: tunnel bytes, rekeys`, tunnels.flatMap((c) => ["TunnelBytesIn", "TunnelBytesOut", "Rekeys"].map((name) => fleetMetric(name, { Service: service.name, Connection: c.name })))),
    ]), graph(`${service.name}: agent`, agent), graph(`${service.name}: host`, [
      new cloudwatch.Metric({ namespace: "AWS/EC2", metricName: "CPUUtilization", dimensionsMap: { AutoScalingGroupName: stageName(stage, service.name) }, statistic: "Average" }),
      ...Object.values(HOST_METRICS).map((name) => hostMetric(stage, service.name, name, Duration.minutes(1))),
    ]));
  }
}

/** A strongSwan host's CloudWatch agent metric, by its group (the agent's aggregation dimension). */
function hostMetric(stage: string, site: string, metricName: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: HOST_METRICS_NAMESPACE, metricName, dimensionsMap: { AutoScalingGroupName: stageName(stage, site) }, statistic: "Maximum", period,
  });
}

/** The loop's failures queue: loopFunction (stacks/loops.ts) creates it next to the function as `<id>Failures`. */
function failuresOf(fn: Function): sqs.Queue {
  const queue = Stack.of(fn).node.tryFindChild(`${fn.node.id}Failures`);
  if (!(queue instanceof sqs.Queue)) throw new Error(`${fn.node.path}: no failures queue ${fn.node.id}Failures next to it (stacks/loops.ts creates one per loop)`);
  return queue;
}

/** "dns-sync" → "DnsSync", for construct ids and alarm names. */
const pascal = (name: string) => name.replace(/(^|[-_.])([a-z0-9])/gi, (_, __, c: string) => c.toUpperCase());
