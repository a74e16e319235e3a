// The task-targets Lambda through the real ECS, ELBv2 and DynamoDB clients, answered in memory: a cluster's
// tasks (fake-cluster.ts) and target groups and leases (FakeAws). Rules encoded here:
// - ECS developer guide, "Registering multiple target groups with an Amazon ECS service": a service with an
//   NLB takes at most five target groups, so listeners beyond the native one are kept by this loop (50 here).
// - ECS API reference: ListTasks pages by nextToken and filters by serviceName/desiredStatus; DescribeTasks
//   takes at most 100 tasks; an awsvpc task's address is its ElasticNetworkInterface attachment's
//   privateIPv4Address.
// - ECS developer guide, "Amazon ECS task state change events": the event's detail is the task; group is
//   "service:<name>" (samples in events/ecs-task-state-change-*.json).
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { DescribeServicesCommand, DescribeTasksCommand, ListTasksCommand } from "@aws-sdk/client-ecs";
import { DeregisterTargetsCommand, DescribeTargetHealthCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { FakeAws } from "../support/fake-aws.ts";
import { CLUSTER, FakeCluster } from "./fake-cluster.ts";

const EVENTS = resolve(import.meta.dirname, "../../events");
type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;
const context = { functionName: "task-targets", awsRequestId: "r", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** 50 listeners: the first (port 10000) is the service's native target group; these 49 follow its tasks. */
const GROUPS = Array.from({ length: 49 }, (_, i) => ({
  arn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/router-l${i + 1}/${(i + 1).toString(16).padStart(16, "0")}`,
  port: 10001 + i,
}));
const OTHER_GROUP = { arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ingress-l1/00000000000000aa", port: 8443 };

let aws: FakeAws;
let cluster: FakeCluster;
let handler: Handler;

async function sample(name: "running" | "deprovisioning" | "stopped", taskArn?: string) {
  const event = JSON.parse(await readFile(`${EVENTS}/ecs-task-state-change-${name}.json`, "utf8"));
  if (taskArn) {
    event.detail.taskArn = taskArn;
    event.resources = [taskArn];
  }
  return event;
}
const scheduled = async () => JSON.parse(await readFile(`${EVENTS}/scheduled-event.json`, "utf8"));
const registeredIn = (arn: string) => aws.registered(arn);
const elbWrites = () => aws.elb.commandCalls(RegisterTargetsCommand).length + aws.elb.commandCalls(DeregisterTargetsCommand).length;

beforeAll(() => {
  Object.assign(process.env, {
    TASK_TARGET_GROUPS: JSON.stringify([
      { cluster: CLUSTER, service: "router", targetGroups: GROUPS },
      { cluster: CLUSTER, service: "ingress", targetGroups: [OTHER_GROUP] },
    ]),
    STATE_TABLE: "state", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
    POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL", POWERTOOLS_TRACE_ENABLED: "false",
  });
});

beforeEach(async () => {
  vi.resetModules();
  aws = new FakeAws();
  cluster = new FakeCluster();
  cluster.desiredCounts.set("router", 3);
  cluster.desiredCounts.set("ingress", 0);
  handler = (await import("../../functions/task-targets.ts")).handler as unknown as Handler;
});

afterEach(() => {
  aws.restore();
  cluster.restore();
});

describe("50 listeners on one service", () => {
  it("a RUNNING task event registers the service's running task IPs in all 49 non-native groups, with exact calls", async () => {
    const tasks = [cluster.run("router", "10.0.1.23"), cluster.run("router", "10.0.2.17"), cluster.run("router", "10.0.3.5")];
    const summary = await handler(await sample("running", tasks[0]), context);
    expect(summary).toEqual({ services: [{ service: "router", addresses: ["10.0.1.23", "10.0.2.17", "10.0.3.5"], registered: 147, deregistered: 0 }] });

    expect(cluster.client).toHaveReceivedCommandWith(ListTasksCommand, { cluster: CLUSTER, serviceName: "router", desiredStatus: "RUNNING" });
    expect(cluster.client).toHaveReceivedCommandWith(DescribeTasksCommand, { cluster: CLUSTER, tasks });
    expect(cluster.client).toHaveReceivedCommandWith(DescribeServicesCommand, { cluster: CLUSTER, services: ["router"] });
    expect(aws.elb).toHaveReceivedCommandTimes(RegisterTargetsCommand, 49);
    for (const group of GROUPS) {
      expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, {
        TargetGroupArn: group.arn,
        Targets: [{ Id: "10.0.1.23", Port: group.port }, { Id: "10.0.2.17", Port: group.port }, { Id: "10.0.3.5", Port: group.port }],
      });
      expect(registeredIn(group.arn)).toEqual([`10.0.1.23:${group.port}`, `10.0.2.17:${group.port}`, `10.0.3.5:${group.port}`]);
    }
    expect(aws.elb).not.toHaveReceivedCommand(DeregisterTargetsCommand);
    // Only this service's groups were looked at.
    expect(aws.elb).not.toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: OTHER_GROUP.arn });
  });

  it("a STOPPED task event deregisters that task from all 49 groups and nothing else", async () => {
    const [stopping, ...kept] = [cluster.run("router", "10.0.1.23"), cluster.run("router", "10.0.2.17"), cluster.run("router", "10.0.3.5")];
    await handler(await scheduled(), context);
    aws.resetHistory();
    Object.assign(cluster.tasks.get(stopping!)!, { lastStatus: "STOPPED", desiredStatus: "STOPPED" });
    cluster.run("router", "10.0.4.9"); // its replacement

    await handler(await sample("stopped", stopping), context);
    expect(aws.elb).toHaveReceivedCommandTimes(DeregisterTargetsCommand, 49);
    for (const group of GROUPS) {
      expect(aws.elb).toHaveReceivedCommandWith(DeregisterTargetsCommand, { TargetGroupArn: group.arn, Targets: [{ Id: "10.0.1.23", Port: group.port }] });
      expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: group.arn, Targets: [{ Id: "10.0.4.9", Port: group.port }] });
      expect(registeredIn(group.arn)).toEqual([`10.0.2.17:${group.port}`, `10.0.3.5:${group.port}`, `10.0.4.9:${group.port}`]);
    }
    expect(kept).toHaveLength(2);
    // Every registration went before any deregistration: the set never passes through a smaller one.
    const names = aws.elb.calls().map((c) => (c.args[0] as object).constructor.name).filter((n) => n !== "DescribeTargetHealthCommand");
    expect(names.lastIndexOf("RegisterTargetsCommand")).toBeLessThan(names.indexOf("DeregisterTargetsCommand"));
  });

  it("a task on its way out (desiredStatus STOPPED, lastStatus DEPROVISIONING) is deregistered before it stops, so the NLB drains it", async () => {
    const [leaving] = [cluster.run("router", "10.0.1.23"), cluster.run("router", "10.0.2.17")];
    await handler(await scheduled(), context);
    Object.assign(cluster.tasks.get(leaving!)!, { lastStatus: "DEPROVISIONING", desiredStatus: "STOPPED" });
    await handler(await sample("deprovisioning", leaving), context);
    for (const group of GROUPS) expect(registeredIn(group.arn)).toEqual([`10.0.2.17:${group.port}`]);
  });

  it("a run with nothing to change makes zero write calls and takes no lease", async () => {
    cluster.run("router", "10.0.1.23");
    await handler(await scheduled(), context);
    aws.resetHistory();
    expect(await handler(await scheduled(), context)).toEqual({
      services: [
        { service: "router", addresses: ["10.0.1.23"], registered: 0, deregistered: 0 },
        { service: "ingress", addresses: [], registered: 0, deregistered: 0 },
      ],
    });
    expect(aws.writes()).toEqual({});
    expect(aws.dynamo).not.toHaveReceivedCommand(PutCommand);
  });

  it("more than 100 tasks: ListTasks is paged and DescribeTasks asked 100 at a time", async () => {
    cluster.desiredCounts.set("router", 150);
    for (let i = 0; i < 150; i++) cluster.run("router", `10.0.${Math.floor(i / 100)}.${(i % 100) + 1}`);
    const summary = await handler(await scheduled(), context) as { services: Array<{ addresses: string[] }> };
    expect(summary.services[0]!.addresses).toHaveLength(150);
    // Observed twice (once to plan, once under the lease), two pages each; DescribeTasks 100 at a time.
    const routerPages = cluster.client.commandCalls(ListTasksCommand).filter((c) => c.args[0].input.serviceName === "router");
    expect(routerPages).toHaveLength(4);
    expect(cluster.client.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input.tasks!.length)).toEqual([100, 50, 100, 50]);
    expect(registeredIn(GROUPS[48]!.arn)).toHaveLength(150);
  });
});

describe("never make things worse", () => {
  it("a service that wants tasks but reports none running keeps its targets: deregistrations are held and reported", async () => {
    const tasks = [cluster.run("router", "10.0.1.23"), cluster.run("router", "10.0.2.17")];
    await handler(await scheduled(), context);
    aws.resetHistory();
    for (const arn of tasks) cluster.tasks.delete(arn); // ListTasks answers empty mid-deployment
    const summary = await handler(await sample("stopped", tasks[0]), context);
    expect(summary).toEqual({
      services: [{ service: "router", addresses: [], registered: 0, deregistered: 0, held: "ECS service router wants 3 task(s) but reports none running" }],
    });
    expect(elbWrites()).toBe(0);
    for (const group of GROUPS) expect(registeredIn(group.arn)).toHaveLength(2);
  });

  it("a service scaled to zero on purpose is emptied", async () => {
    const [task] = [cluster.run("router", "10.0.1.23")];
    await handler(await scheduled(), context);
    cluster.tasks.delete(task!);
    cluster.desiredCounts.set("router", 0);
    await handler(await sample("stopped", task), context);
    for (const group of GROUPS) expect(registeredIn(group.arn)).toEqual([]);
  });

  it("another run holding the service's lease: this run writes no target and reports the service busy", async () => {
    cluster.run("router", "10.0.1.23");
    aws.items.set("lease#task-targets#" + CLUSTER + "#router|lease", {
      pk: `lease#task-targets#${CLUSTER}#router`, sk: "lease", holder: "someone-else", leaseUntil: Date.now() + 60_000,
    });
    const summary = await handler(await sample("running"), context);
    expect(summary).toEqual({ services: [{ service: "router", addresses: ["10.0.1.23"], registered: 0, deregistered: 0, busy: true }] });
    expect(elbWrites()).toBe(0);
  });
});

describe("events", () => {
  it("a malformed event makes zero calls and is answered as rejected", async () => {
    const event = await sample("running");
    delete event.detail.clusterArn;
    expect(await handler(event, context)).toEqual({ rejected: true });
    expect(cluster.client.calls()).toHaveLength(0);
    expect(aws.totalCalls()).toBe(0);
  });

  it("a task of another service, or a standalone task, makes zero calls", async () => {
    for (const group of ["service:someone-elses", undefined]) {
      const event = await sample("running");
      if (group) event.detail.group = group;
      else delete event.detail.group;
      expect(await handler(event, context)).toEqual({ services: [] });
    }
    expect(cluster.client.calls()).toHaveLength(0);
    expect(aws.totalCalls()).toBe(0);
  });
});
