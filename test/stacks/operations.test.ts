// The Operations stack: alarms → one SNS topic per stage, and the dashboard, synthesized from examples/ at two
// stages ("dev", and "dev-2" with both notification settings), checked with CDK assertions and cdk-nag; every
// ProxyFleet metric they name is cross-checked against the names the code publishes.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { AGENT_METRIC_NAMES } from "../../containers/agent/metrics.ts";
import { listenPorts } from "../../functions/fleet/listeners.ts";
import type { FleetModel, ServiceModelOf } from "../../functions/fleet/load.ts";
import { deployedFleet } from "../../stacks/deployed.ts";
import {
  LOOKUP_FAILING_MINUTES, NAMESPACE, STRONGSWAN_CPU_ALARM_PERCENT, STRONGSWAN_DISK_ALARM_PERCENT, STRONGSWAN_MEMORY_ALARM_PERCENT,
} from "../../stacks/Operations.ts";
import { HOST_METRICS_NAMESPACE, hostMetricsAgentConfig } from "../../stacks/StrongswanSites.ts";
import { deploySettings, stageName } from "../../stacks/settings.ts";
import { ALL_STACKS, synth } from "../support/synth.ts";

const EMAIL = "oncall@example.com";
const EXISTING_TOPIC = "arn:aws:sns:us-east-1:123456789012:noc-pager";
const synthesized: Record<string, { template: Template; nagFindings: () => string[] }> = {};
let model: FleetModel;

beforeAll(async () => {
  model = await deployedFleet("examples");
  synthesized.dev = await synth(ALL_STACKS, { stage: "dev" });
  process.env.PROXY_FLEET_ALARM_EMAIL = EMAIL;
  process.env.PROXY_FLEET_ALARM_TOPIC_ARN = EXISTING_TOPIC;
  try {
    synthesized["dev-2"] = await synth(ALL_STACKS, { stage: "dev-2" });
  } finally {
    delete process.env.PROXY_FLEET_ALARM_EMAIL;
    delete process.env.PROXY_FLEET_ALARM_TOPIC_ARN;
  }
}, 600_000);

type Resource = { Type: string; Properties: Record<string, unknown> };
const resources = (stage: string, type: string) =>
  Object.entries(synthesized[stage]!.template.toJSON().Resources as Record<string, Resource>).filter(([, r]) => r.Type === type);

/** A template value as text: literals kept, references as <logical id> (so JSON bodies built with Fn::Join parse). */
function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return value.map(text).join(",");
  const v = value as Record<string, unknown>;
  if ("Ref" in v) return `<${String(v.Ref)}>`;
  if ("Fn::GetAtt" in v) return `<${(v["Fn::GetAtt"] as string[]).join(".")}>`;
  if ("Fn::ImportValue" in v) return `<import ${text(v["Fn::ImportValue"])}>`;
  if ("Fn::Join" in v) {
    const [separator, parts] = v["Fn::Join"] as [string, unknown[]];
    return parts.map(text).join(separator);
  }
  if ("Fn::Select" in v) return `<select>`;
  return `<${Object.keys(v)[0]}>`;
}

interface AlarmSpec { threshold: number; comparison: string; severity: "page" | "info" }
const GT0 = { threshold: 0, comparison: "GreaterThanThreshold" } as const;

/** Every alarm Operating documents, derived from the config on its own (not from the stack's code). */
function expectedAlarms(fleet: FleetModel): Record<string, AlarmSpec> {
  const expected: Record<string, AlarmSpec> = {};
  for (const loop of ["DnsSync", "ConfigRollout", "RolloutWatch", "TaskTargets", "InstanceHeal", "PullRequest"]) {
    for (const kind of ["Errors", "Throttles", "Failures"]) expected[`${loop}${kind}`] = { ...GT0, severity: "page" };
  }
  for (const name of ["HealFailures", "RemovalsHeld", "DeploymentsFailed", "LookupsFailing"]) expected[name] = { ...GT0, severity: "page" };
  expected.CommitsRejected = { ...GT0, severity: "info" };
  const pascal = (name: string) => name.split(/[-_.]/).map((p) => p[0]!.toUpperCase() + p.slice(1)).join("");
  for (const service of fleet.services) {
    const id = pascal(service.name);
    expected[`${id}TasksMissing`] = { ...GT0, severity: "page" };
    if (service.kind === "strongswan") {
      expected[`${id}HostCpu`] = { threshold: STRONGSWAN_CPU_ALARM_PERCENT, comparison: "GreaterThanThreshold", severity: "page" };
      expected[`${id}HostMemory`] = { threshold: STRONGSWAN_MEMORY_ALARM_PERCENT, comparison: "GreaterThanThreshold", severity: "page" };
      expected[`${id}HostDisk`] = { threshold: STRONGSWAN_DISK_ALARM_PERCENT, comparison: "GreaterThanThreshold", severity: "page" };
      for (const c of service.noIpsec ? [] : service.connections) expected[`${id}${pascal(c.name)}TunnelDown`] = { threshold: 1, comparison: "LessThanThreshold", severity: "page" };
      continue;
    }
    listenPorts(service).forEach((_, i) => {
      expected[`${id}Group${i}Unhealthy`] = { ...GT0, severity: "page" };
      expected[`${id}Group${i}NoHealthy`] = { threshold: 1, comparison: "LessThanThreshold", severity: "page" };
    });
  }
  return expected;
}

type AlarmProperties = { readonly id: string } & Record<string, unknown>;
const alarmsByName = (stage: string) => new Map(resources(stage, "AWS::CloudWatch::Alarm").map(([id, r]): [string, AlarmProperties] => [String(r.Properties.AlarmName), { id, ...r.Properties }]));
const topicId = (stage: string) => resources(stage, "AWS::SNS::Topic")[0]![0];

describe.each(["dev", "dev-2"])("Operations at stage %s", (stage) => {
  it("has one alarm topic, named for the stage, KMS-encrypted with a key CloudWatch may use, SSL enforced", () => {
    const topics = resources(stage, "AWS::SNS::Topic");
    expect(topics).toHaveLength(1);
    expect(topics[0]![1].Properties.TopicName).toBe(`proxy-fleet-${stage}_alarms`);
    expect(topics[0]![1].Properties.KmsMasterKeyId).toBeDefined();
    const policy = JSON.stringify(resources(stage, "AWS::SNS::TopicPolicy")[0]![1].Properties.PolicyDocument);
    expect(policy).toContain('"aws:SecureTransport":"false"');
    const keyPolicy = resources(stage, "AWS::KMS::Key")[0]![1].Properties.KeyPolicy as { Statement: { Principal: { Service?: string }; Action: string[] }[] };
    expect(keyPolicy.Statement.filter((s) => s.Principal.Service === "cloudwatch.amazonaws.com").map((s) => s.Action)).toEqual([["kms:Decrypt", "kms:GenerateDataKey*"]]);
  });

  it("has every alarm the config calls for, with its threshold, comparison and the topic as action (pages also send OK)", () => {
    const alarms = alarmsByName(stage);
    const expected = expectedAlarms(model);
    const names = Object.entries(expected).map(([id, spec]) => `proxy-fleet-${stage}_${spec.severity}-${id}`);
    expect([...alarms.keys()].sort()).toEqual(names.sort());
    for (const [id, spec] of Object.entries(expected)) {
      const alarm = alarms.get(`proxy-fleet-${stage}_${spec.severity}-${id}`)!;
      expect({ id, threshold: alarm.Threshold, comparison: alarm.ComparisonOperator }).toEqual({ id, threshold: spec.threshold, comparison: spec.comparison });
      expect(alarm.AlarmActions).toContainEqual({ Ref: topicId(stage) });
      if (spec.severity === "page") expect(alarm.OKActions).toContainEqual({ Ref: topicId(stage) });
      else expect(alarm.OKActions).toBeUndefined();
    }
  });

  it("alarms on DLQ depth, NLB health per target group, ECS running < desired, tunnel state", () => {
    const alarms = [...alarmsByName(stage).values()];
    const failures = alarms.filter((a) => /Failures$/.test(String(a.AlarmName)) && a.MetricName === "ApproximateNumberOfMessagesVisible");
    expect(failures).toHaveLength(6);
    for (const a of failures) expect(a.Namespace).toBe("AWS/SQS");
    const nlb = alarms.filter((a) => a.Namespace === "AWS/NetworkELB");
    expect(nlb.length).toBeGreaterThan(0);
    for (const a of nlb) expect((a.Dimensions as { Name: string }[]).map((d) => d.Name).sort()).toEqual(["LoadBalancer", "TargetGroup"]);
    const missing = alarms.filter((a) => /TasksMissing$/.test(String(a.AlarmName)));
    expect(missing).toHaveLength(model.services.length);
    for (const a of missing) {
      const metrics = a.Metrics as { Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string } } }[];
      expect(metrics.find((m) => m.Expression)!.Expression).toBe("desired - running");
      expect(metrics.flatMap((m) => (m.MetricStat ? [`${m.MetricStat.Metric.Namespace}/${m.MetricStat.Metric.MetricName}`] : [])).sort())
        .toEqual(["ECS/ContainerInsights/DesiredTaskCount", "ECS/ContainerInsights/RunningTaskCount"]);
    }
    const tunnels = alarms.filter((a) => a.MetricName === "TunnelUp");
    const connections = model.services.flatMap((s) => (s.kind === "strongswan" && !s.noIpsec ? s.connections.map((c) => `${s.name}/${c.name}`) : []));
    const dimension = (a: AlarmProperties, name: string) => (a.Dimensions as { Name: string; Value: string }[]).find((d) => d.Name === name)?.Value;
    expect(tunnels.map((a) => `${dimension(a, "Service")}/${dimension(a, "Connection")}`).sort()).toEqual(connections.sort());
    for (const a of tunnels) expect(a.TreatMissingData).toBe("breaching");
  });

  it("pages when a name's lookups have failed for the configured minutes without a break (the DNS loop's NamesFailingLong)", () => {
    const alarm = alarmsByName(stage).get(`proxy-fleet-${stage}_page-LookupsFailing`)!;
    expect(LOOKUP_FAILING_MINUTES).toBe(10);
    expect({ metric: alarm.MetricName, statistic: alarm.Statistic, threshold: alarm.Threshold, comparison: alarm.ComparisonOperator })
      .toEqual({ metric: "NamesFailingLong", statistic: "Maximum", threshold: 0, comparison: "GreaterThanThreshold" });
  });

  it("has a dashboard named for the stage with a widget per loop, service and tunnel", () => {
    const dashboards = resources(stage, "AWS::CloudWatch::Dashboard");
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]![1].Properties.DashboardName).toBe(`proxy-fleet-${stage}_operations`);
    const titles = dashboardWidgets(stage).map((w) => w.properties.title).filter(Boolean);
    for (const loop of ["dns-sync", "config-rollout", "rollout-watch", "task-targets", "instance-heal"]) expect(titles).toContain(loop);
    for (const service of model.services) expect(titles.some((t) => t!.startsWith(`${service.name}:`))).toBe(true);
    const sites = model.services.filter((s): s is ServiceModelOf<"strongswan"> => s.kind === "strongswan");
    expect(sites.some((s) => s.noIpsec) && sites.some((s) => !s.noIpsec)).toBe(true);
    for (const site of sites) expect(titles.includes(`${site.name}: tunnels up`), site.name).toBe(!site.noIpsec);
    // No graph is left without a metric.
    for (const widget of dashboardWidgets(stage).filter((w) => w.type === "metric")) expect(widget.properties.metrics?.length, widget.properties.title).toBeGreaterThan(0);
    expect(titles).toContain("Names failing (latest runs)");
    expect(titles).toContain("Last commits (accepted or rejected)");
  });

  it("passes cdk-nag's AwsSolutions checks", () => {
    expect(synthesized[stage]!.nagFindings()).toEqual([]);
  });
});

describe("two stages side by side", () => {
  it("share no topic, dashboard or alarm name", () => {
    const names = (stage: string) => [
      ...resources(stage, "AWS::SNS::Topic").map(([, r]) => r.Properties.TopicName),
      ...resources(stage, "AWS::CloudWatch::Dashboard").map(([, r]) => r.Properties.DashboardName),
      ...resources(stage, "AWS::CloudWatch::Alarm").map(([, r]) => r.Properties.AlarmName),
    ].map(String);
    expect(names("dev").length).toBeGreaterThan(2);
    expect(names("dev").filter((n) => names("dev-2").includes(n))).toEqual([]);
  });

  it("subscribes PROXY_FLEET_ALARM_EMAIL and notifies PROXY_FLEET_ALARM_TOPIC_ARN only where they are set", () => {
    expect(resources("dev", "AWS::SNS::Subscription")).toHaveLength(0);
    const subscriptions = resources("dev-2", "AWS::SNS::Subscription");
    expect(subscriptions.map(([, r]) => ({ protocol: r.Properties.Protocol, endpoint: r.Properties.Endpoint }))).toEqual([{ protocol: "email", endpoint: EMAIL }]);
    for (const alarm of alarmsByName("dev-2").values()) expect(alarm.AlarmActions).toContainEqual(EXISTING_TOPIC);
    for (const alarm of alarmsByName("dev").values()) expect(alarm.AlarmActions).toHaveLength(1);
  });
});

describe("alarm shapes", () => {
  // CPU from AWS/EC2 by AutoScalingGroupName, sent without an agent
  // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html); memory and disk from the
  // CloudWatch agent (CWAgent), rolled up by AutoScalingGroupName (aggregation_dimensions:
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).
  it.each(["dev", "dev-2"])("at stage %s: each strongSwan site's host CPU, memory and disk alarms read its own group", (stage) => {
    const alarms = alarmsByName(stage);
    for (const site of model.services.filter((s) => s.kind === "strongswan")) {
      const id = site.name.split(/[-_.]/).map((p) => p[0]!.toUpperCase() + p.slice(1)).join("");
      const group = [{ Name: "AutoScalingGroupName", Value: stageName(stage, site.name) }];
      const shape = (name: string) => {
        const a = alarms.get(`proxy-fleet-${stage}_page-${id}${name}`)!;
        return { namespace: a.Namespace, metric: a.MetricName, dimensions: a.Dimensions, periods: a.EvaluationPeriods, missing: a.TreatMissingData };
      };
      expect(shape("HostCpu")).toEqual({ namespace: "AWS/EC2", metric: "CPUUtilization", dimensions: group, periods: 2, missing: "missing" });
      expect(shape("HostMemory")).toEqual({ namespace: HOST_METRICS_NAMESPACE, metric: "mem_used_percent", dimensions: group, periods: 2, missing: "missing" });
      expect(shape("HostDisk")).toEqual({ namespace: HOST_METRICS_NAMESPACE, metric: "disk_used_percent", dimensions: group, periods: 2, missing: "missing" });
    }
  });
});

describe("alarm settings", () => {
  it("are checked at synth", () => {
    expect(deploySettings({ PROXY_FLEET_ALARM_EMAIL: ` ${EMAIL} `, PROXY_FLEET_ALARM_TOPIC_ARN: EXISTING_TOPIC })).toMatchObject({ alarmEmail: EMAIL, alarmTopicArn: EXISTING_TOPIC });
    expect(() => deploySettings({ PROXY_FLEET_ALARM_EMAIL: "oncall" })).toThrow(/PROXY_FLEET_ALARM_EMAIL="oncall": expected one email address/);
    expect(() => deploySettings({ PROXY_FLEET_ALARM_TOPIC_ARN: "noc-pager" })).toThrow(/PROXY_FLEET_ALARM_TOPIC_ARN="noc-pager": expected a standard SNS topic ARN/);
    expect(() => deploySettings({ PROXY_FLEET_ALARM_TOPIC_ARN: "arn:aws:sqs:us-east-1:123456789012:queue" })).toThrow(/PROXY_FLEET_ALARM_TOPIC_ARN/);
  });
});

// --- the cross-check: names referenced vs names published ----------------------------------------------------------

type Widget = { type: string; properties: { title?: string; metrics?: unknown[][] } };
function dashboardWidgets(stage: string): Widget[] {
  const body = text(resources(stage, "AWS::CloudWatch::Dashboard")[0]![1].Properties.DashboardBody);
  return (JSON.parse(body) as { widgets: Widget[] }).widgets;
}

/** Every (name, dimensions) in namespace ProxyFleet that the stage's alarms and dashboard reference. */
function referencedFleetMetrics(stage: string): { name: string; dimensions: Record<string, string> }[] {
  const found: { name: string; dimensions: Record<string, string> }[] = [];
  type Dimension = { Name: string; Value: unknown };
  const fromAlarmMetric = (m: { Namespace?: string; MetricName?: string; Dimensions?: Dimension[] }) => {
    if (m.Namespace === NAMESPACE) found.push({ name: m.MetricName!, dimensions: Object.fromEntries((m.Dimensions ?? []).map((d) => [d.Name, text(d.Value)])) });
  };
  for (const alarm of alarmsByName(stage).values()) {
    fromAlarmMetric(alarm as never);
    for (const m of (alarm.Metrics as { MetricStat?: { Metric: never } }[] | undefined) ?? []) if (m.MetricStat) fromAlarmMetric(m.MetricStat.Metric);
  }
  // Dashboard metric arrays: [namespace, name, dimension name, value, …, {options}].
  for (const widget of dashboardWidgets(stage)) {
    for (const metric of widget.properties.metrics ?? []) {
      const parts = metric.filter((p): p is string => typeof p === "string");
      if (parts[0] !== NAMESPACE) continue;
      const dimensions: Record<string, string> = {};
      for (let i = 2; i + 1 < parts.length; i += 2) dimensions[parts[i]!] = parts[i + 1]!;
      found.push({ name: parts[1]!, dimensions });
    }
  }
  return found;
}

/**
 * What each loop publishes: every `addMetric("<Name>"` in functions/**, and every call of a local helper that wraps
 * addMetric (`const count = (name…) => metrics.addMetric(name, …)` then `count("<Name>", …)`). A file that calls
 * `powertools("<loop>")` publishes under that loop's `service` dimension; names in other files (the shared handler
 * wiring) under every loop's.
 */
function publishedByLambdas(dir = "functions"): Map<string, Set<string>> {
  const byLoop = new Map<string, Set<string>>();
  const shared = new Set<string>();
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".ts") ? [join(d, e.name)] : []));
  for (const file of walk(dir)) {
    const source = readFileSync(file, "utf8");
    const names = new Set<string>();
    for (const m of source.matchAll(/addMetric\(\s*"([A-Za-z0-9]+)"/g)) names.add(m[1]!);
    for (const wrapper of source.matchAll(/const (\w+) = \((\w+)[^)]*\) =>\s*\w+\.addMetric\(\2\b/g)) {
      for (const m of source.matchAll(new RegExp(`\\b${wrapper[1]}\\(\\s*"([A-Za-z0-9]+)"`, "g"))) names.add(m[1]!);
    }
    const loop = /powertools\(\s*"([a-z0-9-]+)"\s*\)/.exec(source)?.[1];
    const into = loop ? byLoop.get(loop) ?? byLoop.set(loop, new Set()).get(loop)! : shared;
    for (const name of names) into.add(name);
  }
  for (const names of byLoop.values()) for (const name of shared) names.add(name);
  return byLoop;
}

/** Every (name, dimension keys) the hosts' CloudWatch agent publishes: <section>_<measurement>, by each aggregation. */
function publishedByHostAgent(): Set<string> {
  const { metrics } = hostMetricsAgentConfig();
  const names = Object.entries(metrics.metrics_collected).flatMap(([section, { measurement }]) =>
    measurement.map((m) => (m.startsWith(`${section}_`) ? m : `${section}_${m}`)));
  return new Set(names.flatMap((name) => metrics.aggregation_dimensions.map((keys) => `${name} by ${[...keys].sort().join(",")}`)));
}

/** Every (name, dimensions) in namespace CWAgent the stage's alarms and dashboard reference. */
function referencedHostMetrics(stage: string): { name: string; dimensions: Record<string, string> }[] {
  const found: { name: string; dimensions: Record<string, string> }[] = [];
  for (const alarm of alarmsByName(stage).values()) {
    if (alarm.Namespace !== HOST_METRICS_NAMESPACE) continue;
    found.push({ name: String(alarm.MetricName), dimensions: Object.fromEntries((alarm.Dimensions as { Name: string; Value: unknown }[]).map((d) => [d.Name, text(d.Value)])) });
  }
  for (const widget of dashboardWidgets(stage)) {
    for (const metric of widget.properties.metrics ?? []) {
      const parts = metric.filter((p): p is string => typeof p === "string");
      if (parts[0] !== HOST_METRICS_NAMESPACE) continue;
      const dimensions: Record<string, string> = {};
      for (let i = 2; i + 1 < parts.length; i += 2) dimensions[parts[i]!] = parts[i + 1]!;
      found.push({ name: parts[1]!, dimensions });
    }
  }
  return found;
}

describe("every CWAgent metric the alarms and dashboard name is one the hosts' CloudWatch agent publishes", () => {
  it("reads the agent's metric names as the agent forms them", () => {
    expect([...publishedByHostAgent()].sort()).toEqual([
      "disk_used_percent by AutoScalingGroupName", "mem_used_percent by AutoScalingGroupName", "swap_used_percent by AutoScalingGroupName",
    ]);
  });

  it.each(["dev", "dev-2"])("at stage %s: by a strongSwan site's group, and only names the agent's configuration collects", (stage) => {
    const published = publishedByHostAgent();
    const groups = new Set(model.services.filter((s) => s.kind === "strongswan").map((s) => stageName(stage, s.name)));
    const referenced = referencedHostMetrics(stage);
    // Alarms and dashboard both read host metrics, so an empty reading cannot pass.
    expect(referenced.filter((r) => r.name === "mem_used_percent").length).toBeGreaterThanOrEqual(2 * groups.size);
    expect(referenced.some((r) => r.name === "swap_used_percent")).toBe(true);
    const problems = referenced.flatMap(({ name, dimensions }) => {
      const keys = Object.keys(dimensions).sort().join(",");
      if (!published.has(`${name} by ${keys}`)) return [`${name} by ${keys}: the hosts' CloudWatch agent does not publish it`];
      return groups.has(dimensions.AutoScalingGroupName!) ? [] : [`${name}: ${dimensions.AutoScalingGroupName} is no strongSwan site's group`];
    });
    expect(problems).toEqual([]);
  });
});

describe("every ProxyFleet metric the alarms and dashboard name is one the code publishes", () => {
  it("reads both ways the Lambdas publish a metric (direct, and through a local helper) and the loop names", () => {
    const published = publishedByLambdas();
    expect([...published.keys()].sort()).toEqual(["config-rollout", "dns-sync", "instance-heal", "pull-request", "rollout-watch", "task-targets"]);
    // Direct addMetric calls, and dns-sync's count helper; MalformedEvents (shared wiring) belongs to every loop.
    expect(published.get("instance-heal")).toContain("HealFailures");
    expect(published.get("config-rollout")).toContain("CommitsRejected");
    expect(published.get("dns-sync")).toContain("LookupFailures");
    expect(published.get("dns-sync")).toContain("RemovalsHeld");
    expect(published.get("dns-sync")).not.toContain("HealFailures");
    for (const names of published.values()) expect(names).toContain("MalformedEvents");
  });

  it("the loops publish in the namespace the agents use, which the alarms and dashboard read", () => {
    const namespaces = [...readFileSync("functions/lambda.ts", "utf8").matchAll(/new Metrics\(\{\s*namespace:\s*"([^"]+)"/g)].map((m) => m[1]);
    expect(namespaces).toEqual([NAMESPACE]);
  });

  it.each(["dev", "dev-2"])("at stage %s: loop metrics carry a loop's `service`, agent metrics a service (and connection) of the config", (stage) => {
    const published = publishedByLambdas();
    const agent = new Set<string>(AGENT_METRIC_NAMES);
    const services = new Set(model.services.map((s) => s.name));
    const connections = new Set(model.services.flatMap((s) => (s.kind === "strongswan" ? (s as ServiceModelOf<"strongswan">).connections.map((c) => `${s.name}/${c.name}`) : [])));
    const referenced = referencedFleetMetrics(stage);
    // Both kinds are referenced, so an empty or one-sided reading cannot pass.
    expect(referenced.some((r) => "service" in r.dimensions)).toBe(true);
    expect(referenced.some((r) => r.name === "TunnelUp")).toBe(true);
    const problems = referenced.flatMap(({ name, dimensions }) => {
      const keys = Object.keys(dimensions).sort().join(",");
      if (keys === "service") return published.get(dimensions.service!)?.has(name) ? [] : [`${name} (loop ${dimensions.service}): not published by that loop's code`];
      if (keys === "Service") return agent.has(name) && services.has(dimensions.Service!) ? [] : [`${name} (service ${dimensions.Service}): not an agent metric of a configured service`];
      if (keys === "Connection,Service") return agent.has(name) && connections.has(`${dimensions.Service}/${dimensions.Connection}`) ? [] : [`${name} (${dimensions.Service}/${dimensions.Connection}): not an agent metric of a configured connection`];
      return [`${name}: unexpected dimensions ${keys}`];
    });
    expect(problems).toEqual([]);
  });
});
