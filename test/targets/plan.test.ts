// The task-targets planner, row by row of its table (functions/targets/plan.ts), and the loop's settings.
// ECS API reference, Task: lastStatus/desiredStatus; a task ECS is stopping has desiredStatus STOPPED while
// its lastStatus is still RUNNING (ECS developer guide, "Amazon ECS task lifecycle").
import { describe, expect, it } from "vitest";
import { parseTaskTargetGroups, servicesFor, type TaskTargetsEvent } from "../../functions/targets/events.ts";
import { planServiceTargets, serviceOfGroup, servingAddress, type ServiceTargets, type TaskView } from "../../functions/targets/plan.ts";

const CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/proxy-fleet";
const TG = (n: number) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/router-l${n}/${n.toString(16).padStart(16, "0")}`;
const spec: ServiceTargets = { cluster: CLUSTER, service: "router", targetGroups: [{ arn: TG(1), port: 5432 }, { arn: TG(2), port: 6432 }] };
const task = (ip: string, lastStatus = "RUNNING", desiredStatus = "RUNNING"): TaskView => ({ arn: `task-${ip}`, lastStatus, desiredStatus, privateIPv4: ip });

describe("servingAddress", () => {
  it("only a task RUNNING and meant to keep running, with an IPv4 address, serves", () => {
    expect(servingAddress(task("10.0.0.1"))).toBe("10.0.0.1");
    expect(servingAddress(task("10.0.0.1", "PENDING"))).toBeUndefined();
    expect(servingAddress(task("10.0.0.1", "RUNNING", "STOPPED"))).toBeUndefined();
    expect(servingAddress(task("10.0.0.1", "DEPROVISIONING", "STOPPED"))).toBeUndefined();
    expect(servingAddress({ arn: "t", lastStatus: "RUNNING", desiredStatus: "RUNNING" })).toBeUndefined();
    expect(servingAddress(task("not-an-ip"))).toBeUndefined();
  });
});

describe("planServiceTargets", () => {
  const registered = (entries: Array<[string, Array<[string, number]>]>) =>
    new Map(entries.map(([arn, targets]) => [arn, targets.map(([id, port]) => ({ id, port }))]));

  it("registers the running tasks missing from each group at that group's port", () => {
    const plan = planServiceTargets(spec, { tasks: [task("10.0.0.2"), task("10.0.0.1")], desiredCount: 2, registered: registered([[TG(1), [["10.0.0.1", 5432]]]]) });
    expect(plan).toEqual({
      cluster: CLUSTER, service: "router", addresses: ["10.0.0.1", "10.0.0.2"],
      changes: [
        { arn: TG(1), register: [{ id: "10.0.0.2", port: 5432 }], deregister: [] },
        { arn: TG(2), register: [{ id: "10.0.0.1", port: 6432 }, { id: "10.0.0.2", port: 6432 }], deregister: [] },
      ],
    });
  });

  it("deregisters stopping tasks, gone tasks and targets at a wrong port", () => {
    const plan = planServiceTargets(spec, {
      tasks: [task("10.0.0.1"), task("10.0.0.3", "RUNNING", "STOPPED")], desiredCount: 2,
      registered: registered([[TG(1), [["10.0.0.1", 5432], ["10.0.0.3", 5432], ["10.0.0.9", 5432], ["10.0.0.1", 9999]]], [TG(2), [["10.0.0.1", 6432]]]]),
    });
    expect(plan.changes).toEqual([{
      arn: TG(1), register: [], deregister: [{ id: "10.0.0.1", port: 9999 }, { id: "10.0.0.3", port: 5432 }, { id: "10.0.0.9", port: 5432 }],
    }]);
  });

  it("in sync: no change at all", () => {
    const plan = planServiceTargets(spec, { tasks: [task("10.0.0.1")], desiredCount: 1, registered: registered([[TG(1), [["10.0.0.1", 5432]]], [TG(2), [["10.0.0.1", 6432]]]]) });
    expect(plan.changes).toEqual([]);
    expect(plan.held).toBeUndefined();
  });

  it("holds deregistrations when the service wants tasks but none runs, or when the service is not found", () => {
    const actual = registered([[TG(1), [["10.0.0.1", 5432]]]]);
    expect(planServiceTargets(spec, { tasks: [], desiredCount: 2, registered: actual })).toMatchObject({
      changes: [], held: "ECS service router wants 2 task(s) but reports none running",
    });
    expect(planServiceTargets(spec, { tasks: [task("10.0.0.1", "PENDING")], desiredCount: undefined, registered: actual })).toMatchObject({
      changes: [], held: `ECS service router was not found in ${CLUSTER}`,
    });
  });

  it("empties the groups of a service scaled to zero", () => {
    const plan = planServiceTargets(spec, { tasks: [], desiredCount: 0, registered: registered([[TG(1), [["10.0.0.1", 5432]]]]) });
    expect(plan).toMatchObject({ changes: [{ arn: TG(1), register: [], deregister: [{ id: "10.0.0.1", port: 5432 }] }] });
    expect(plan.held).toBeUndefined();
  });

  it("two tasks with one address (a replaced task reusing an IP) register it once", () => {
    const plan = planServiceTargets({ ...spec, targetGroups: [spec.targetGroups[0]!] }, { tasks: [task("10.0.0.1"), { ...task("10.0.0.1"), arn: "other" }], desiredCount: 2, registered: new Map() });
    expect(plan.changes).toEqual([{ arn: TG(1), register: [{ id: "10.0.0.1", port: 5432 }], deregister: [] }]);
  });
});

describe("events and settings", () => {
  const configured: ServiceTargets[] = [spec, { ...spec, service: "ingress" }];
  const taskEvent = (detail: Record<string, unknown>) => ({ "detail-type": "ECS Task State Change", detail }) as unknown as TaskTargetsEvent;

  it("a task event names its own service only; a schedule names all", () => {
    expect(serviceOfGroup("service:router")).toBe("router");
    expect(serviceOfGroup("family:router")).toBeUndefined();
    expect(servicesFor(taskEvent({ clusterArn: CLUSTER, group: "service:ingress" }), configured).map((s) => s.service)).toEqual(["ingress"]);
    expect(servicesFor(taskEvent({ clusterArn: CLUSTER.replace("proxy-fleet", "other"), group: "service:ingress" }), configured)).toEqual([]);
    expect(servicesFor({ "detail-type": "Scheduled Event" } as unknown as TaskTargetsEvent, configured)).toHaveLength(2);
  });

  it("TASK_TARGET_GROUPS: a wrong setting is refused naming the field", () => {
    expect(parseTaskTargetGroups(JSON.stringify([{ cluster: CLUSTER, service: "router", targetGroups: [{ arn: TG(1), port: 5432 }] }]))).toHaveLength(1);
    expect(() => parseTaskTargetGroups(undefined)).toThrow("environment variable TASK_TARGET_GROUPS is not set");
    expect(() => parseTaskTargetGroups("{")).toThrow(/^TASK_TARGET_GROUPS is not JSON/);
    expect(() => parseTaskTargetGroups(JSON.stringify([{ cluster: "proxy-fleet", service: "router", targetGroups: [{ arn: TG(1), port: 0 }] }])))
      .toThrow("TASK_TARGET_GROUPS is invalid: 0.cluster: must be an ECS cluster ARN; 0.targetGroups.0.port: Too small: expected number to be >=1");
  });
});
