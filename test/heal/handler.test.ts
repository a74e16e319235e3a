// The instance-heal Lambda through the real EC2 and Auto Scaling clients (aws-sdk-client-mock answering
// from an in-memory EC2), asserting the exact commands sent.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import {
  CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, RecordLifecycleActionHeartbeatCommand, SetInstanceHealthCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  AssociateAddressCommand, AttachNetworkInterfaceCommand, DescribeNetworkInterfacesCommand, DetachNetworkInterfaceCommand,
  ModifyNetworkInterfaceAttributeCommand,
} from "@aws-sdk/client-ec2";
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { FakeAws } from "../support/fake-aws.ts";
import { FakeEc2, HOOK_WRITES, WRITES } from "../support/fake-ec2.ts";

const EVENTS = resolve(import.meta.dirname, "../../events");
const NEW = "i-0b1c2d3e4f5a6b7c8";
const OLD = "i-0a0a0a0a0a0a0a0a0";
const ENI = "eni-0123456789abcdef0";
const HOOK = { AutoScalingGroupName: "proxy-fleet-test_datacenter-vpn", LifecycleHookName: "attach-persistent-eni", LifecycleActionToken: "87654321-4321-4321-4321-210987654321", InstanceId: NEW };
type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;

let ec2: FakeEc2;
let aws: FakeAws;
let handler: Handler;
const context = { functionName: "instance-heal", awsRequestId: "r", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const launch = async () => JSON.parse(await readFile(`${EVENTS}/ec2-instance-launch-lifecycle-action.json`, "utf8"));
const terminated = async () => JSON.parse(await readFile(`${EVENTS}/ec2-instance-state-change-terminated.json`, "utf8"));

const writes = () => [
  ...WRITES.map((c) => ec2.ec2.commandCalls(c as never).length),
  ...HOOK_WRITES.map((c) => ec2.asg.commandCalls(c as never).length),
].reduce((a, b) => a + b, 0);

beforeAll(() => {
  Object.assign(process.env, {
    STATE_TABLE: "state", PROXY_FLEET_STAGE: "test", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
    POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR", POWERTOOLS_TRACE_ENABLED: "false",
    HEAL_BACKOFF_MS: "1", HEAL_MAX_ATTEMPTS: "3",
  });
});

beforeEach(async () => {
  vi.resetModules();
  ec2 = new FakeEc2();
  aws = new FakeAws();
  ec2.instances.set(NEW, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
  ec2.instances.set(OLD, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Terminating" });
  ec2.addEni(ENI, "datacenter-vpn", "us-east-1a");
  ec2.addEni("eni-0fff0000000000000", "datacenter-vpn", "us-east-1b"); // the other AZ's, never touched
  ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn" });
  handler = (await import("../../functions/instance-heal.ts")).handler as unknown as Handler;
});
afterEach(() => {
  ec2.restore();
  aws.restore();
});

describe("launch lifecycle action", () => {
  it("clean launch: attaches the AZ's ENI at device 1, associates the EIP, disables the source/dest check, continues", async () => {
    expect(await handler(await launch(), context)).toMatchObject({ kind: "continued", attempts: 1 });
    expect(ec2.ec2).toHaveReceivedCommandWith(DescribeNetworkInterfacesCommand, {
      Filters: [{ Name: "tag:proxy-fleet:service", Values: ["datacenter-vpn"] }, { Name: "tag:proxy-fleet:stage", Values: ["test"] }],
    });
    expect(ec2.ec2).toHaveReceivedCommandWith(AttachNetworkInterfaceCommand, { NetworkInterfaceId: ENI, InstanceId: NEW, DeviceIndex: 1 });
    expect(ec2.ec2).toHaveReceivedCommandWith(AssociateAddressCommand, { AllocationId: "eipalloc-0a1b2c3d4e5f60718", NetworkInterfaceId: ENI, AllowReassociation: true });
    expect(ec2.ec2).toHaveReceivedCommandWith(ModifyNetworkInterfaceAttributeCommand, { NetworkInterfaceId: ENI, SourceDestCheck: { Value: false } });
    expect(ec2.asg).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, { ...HOOK, LifecycleActionResult: "CONTINUE" });
    expect(ec2.ec2).not.toHaveReceivedCommand(DetachNetworkInterfaceCommand);
    expect(ec2.enis.get(ENI)!.attachment?.instanceId).toBe(NEW);
    expect(ec2.enis.get("eni-0fff0000000000000")!.attachment).toBeUndefined();
  });

  it("ENI still attached to the terminated instance: force-detaches, waits until available, then attaches", async () => {
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a", OLD);
    expect(await handler(await launch(), context)).toMatchObject({ kind: "continued" });
    expect(ec2.ec2).toHaveReceivedCommandWith(DetachNetworkInterfaceCommand, { AttachmentId: `eni-attach-old-${ENI}`, Force: true });
    expect(ec2.ec2).toHaveReceivedCommandWith(DescribeNetworkInterfacesCommand, { NetworkInterfaceIds: [ENI] }); // the waiter
    expect(ec2.ec2).toHaveReceivedCommandWith(AttachNetworkInterfaceCommand, { NetworkInterfaceId: ENI, InstanceId: NEW, DeviceIndex: 1 });
    expect(ec2.enis.get(ENI)!.attachment?.instanceId).toBe(NEW);
  }, 30_000);

  it("EIP associated elsewhere: reassociates it with the ENI", async () => {
    ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn", eniId: "eni-0somewhereelse0000" });
    await handler(await launch(), context);
    expect(ec2.ec2).toHaveReceivedCommandWith(AssociateAddressCommand, { AllocationId: "eipalloc-0a1b2c3d4e5f60718", NetworkInterfaceId: ENI, AllowReassociation: true });
    expect(ec2.addresses.get("eipalloc-0a1b2c3d4e5f60718")!.eniId).toBe(ENI);
  });

  it("a repeated event sends no write at all", async () => {
    await handler(await launch(), context);
    ec2.ec2.resetHistory();
    ec2.asg.resetHistory();
    aws.resetHistory();
    expect(await handler(await launch(), context)).toEqual({ kind: "already-done", actions: [] });
    expect(writes()).toBe(0);
    expect(aws.writes()).toEqual({});
  });

  it("throttling on attach: retries with heartbeats, then succeeds", async () => {
    ec2.attachThrottles = 2;
    expect(await handler(await launch(), context)).toMatchObject({ kind: "continued", attempts: 3 });
    expect(ec2.ec2).toHaveReceivedCommandTimes(AttachNetworkInterfaceCommand, 3);
    expect(ec2.asg).toHaveReceivedCommandTimes(RecordLifecycleActionHeartbeatCommand, 2);
    expect(ec2.asg).toHaveReceivedCommandWith(RecordLifecycleActionHeartbeatCommand, {
      AutoScalingGroupName: HOOK.AutoScalingGroupName, LifecycleHookName: HOOK.LifecycleHookName, LifecycleActionToken: HOOK.LifecycleActionToken, InstanceId: NEW,
    });
    expect(ec2.asg).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, { ...HOOK, LifecycleActionResult: "CONTINUE" });
  });

  it("retries exhausted: abandons the launch and logs why", async () => {
    ec2.attachThrottles = Infinity;
    const lines: string[] = [];
    const spies = [process.stdout, process.stderr].map((s) => vi.spyOn(s, "write").mockImplementation((c) => (lines.push(String(c)), true)));
    const outcome = await handler(await launch(), context);
    spies.forEach((s) => s.mockRestore());
    expect(outcome).toMatchObject({ kind: "abandoned", attempts: 3 });
    expect(ec2.ec2).toHaveReceivedCommandTimes(AttachNetworkInterfaceCommand, 3);
    expect(ec2.asg).toHaveReceivedCommandTimes(RecordLifecycleActionHeartbeatCommand, 2);
    expect(ec2.asg).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, { ...HOOK, LifecycleActionResult: "ABANDON" });
    const logged = lines.map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((l) => l.message === "launch abandoned");
    expect(logged.reason).toMatch(new RegExp(`could not attach ${ENI} to ${NEW} after 3 attempts: RequestLimitExceeded`));
    expect([...aws.items.keys()].filter((k) => k.startsWith("lease#"))).toEqual([]); // the lease was released
  });

  it("two events for the same ENI never interleave: one attaches, the other finds it leased or done", async () => {
    aws.jitterMs = 5; // the lease calls overlap
    const outcomes = await Promise.all([handler(await launch(), context), handler(await launch(), context)]);
    const kinds = outcomes.map((o) => o.kind).sort();
    expect(kinds.filter((k) => k === "continued")).toHaveLength(1);
    expect(kinds.filter((k) => k !== "continued").every((k) => k === "busy" || k === "already-done")).toBe(true);
    expect(ec2.ec2).toHaveReceivedCommandTimes(AttachNetworkInterfaceCommand, 1);
    expect(ec2.asg).toHaveReceivedCommandTimes(CompleteLifecycleActionCommand, 1);
  });
});

describe("instance state change", () => {
  it("a terminated proxy instance gives its ENI back at once (force detach), nothing else", async () => {
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a", OLD);
    expect(await handler(await terminated(), context)).toEqual({ kind: "detached", eniId: ENI });
    expect(ec2.ec2).toHaveReceivedCommandWith(DetachNetworkInterfaceCommand, { AttachmentId: `eni-attach-old-${ENI}`, Force: true });
    expect(writes()).toBe(1);
  });

  it("ignores instances that are not proxy-fleet's, and states other than shutting-down/terminated", async () => {
    ec2.instances.set(OLD, { az: "us-east-1a", lifecycle: "Terminating" });
    expect(await handler(await terminated(), context)).toMatchObject({ kind: "not-ours" });
    const running = await terminated();
    running.detail.state = "running";
    expect(await handler(running, context)).toEqual({ kind: "ignored", state: "running" });
    expect(writes()).toBe(0);
  });
});

/** Captures the handler's JSON log lines and EMF metric names while `run` runs. */
async function logged<T>(run: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const raw: string[] = [];
  const spies = [process.stdout, process.stderr].map((s) => vi.spyOn(s, "write").mockImplementation((c) => (raw.push(String(c)), true)));
  try {
    const result = await run();
    return { result, lines: raw.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } }) };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

// EC2 answers DescribeInstances for an id it does not know with the error code InvalidInstanceID.NotFound, not an
// empty reservation list (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html). A late or
// replayed event names such an instance: that is "not ours", never a failure to retry.
describe("events about instances EC2 no longer knows", () => {
  it("a replayed launch event for an unknown instance ends in not-ours: logged, counted, no throw, one call, no write", async () => {
    ec2.instances.delete(NEW);
    const event = await launch();
    Object.assign(process.env, { POWERTOOLS_METRICS_DISABLED: "false", POWERTOOLS_LOG_LEVEL: "INFO" }); // read at load: load again
    vi.resetModules();
    try {
      const counting = (await import("../../functions/instance-heal.ts")).handler as unknown as Handler;
      const { result, lines } = await logged(() => counting(event, context));
      expect(result).toMatchObject({ kind: "not-ours", reason: expect.stringContaining(`${NEW} does not exist`) });
      expect(lines.some((l) => l.message === "not ours: nothing to heal")).toBe(true);
      expect(lines.some((l) => JSON.stringify(l).includes('"NotOurs"'))).toBe(true);
    } finally {
      Object.assign(process.env, { POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR" });
    }
    expect(ec2.ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1); // a 400 is not retried
    expect(writes()).toBe(0);
  });

  it("a late termination event for an unknown instance ends in not-ours with no write", async () => {
    ec2.instances.delete(OLD);
    expect(await handler(await terminated(), context)).toMatchObject({ kind: "not-ours", reason: expect.stringContaining(`${OLD} does not exist`) });
    expect(ec2.ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
    expect(writes()).toBe(0);
  });
});

describe("stage isolation", () => {
  it("an instance of another stage is not ours, even with the same service name", async () => {
    ec2.instances.set(NEW, { az: "us-east-1a", service: "datacenter-vpn", stage: "prod", lifecycle: "Pending:Wait" });
    expect(await handler(await launch(), context)).toMatchObject({ kind: "not-ours" });
    expect(writes()).toBe(0);
  });

  it("another stage's ENI and EIP of the same service in the same AZ are never looked up or touched", async () => {
    ec2.enis.clear();
    ec2.addEni("eni-0prod000000000000", "datacenter-vpn", "us-east-1a", OLD, "prod");
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a");
    ec2.addresses.set("eipalloc-0prod", { service: "datacenter-vpn", stage: "prod", eniId: "eni-0prod000000000000" });
    expect(await handler(await launch(), context)).toMatchObject({ kind: "continued" });
    expect(ec2.ec2).toHaveReceivedCommandWith(DescribeNetworkInterfacesCommand, {
      Filters: [{ Name: "tag:proxy-fleet:service", Values: ["datacenter-vpn"] }, { Name: "tag:proxy-fleet:stage", Values: ["test"] }],
    });
    expect(ec2.enis.get("eni-0prod000000000000")!.attachment?.instanceId).toBe(OLD);
    expect(ec2.addresses.get("eipalloc-0prod")!.eniId).toBe("eni-0prod000000000000");
    expect(ec2.ec2).not.toHaveReceivedCommand(DetachNetworkInterfaceCommand);
  });
});

// With a warm pool the launch hook fires twice per instance: launching into the pool (Origin EC2, Destination
// WarmPool, state Warmed:Pending:Wait) and leaving it for the group (Origin WarmPool, Destination AutoScalingGroup,
// state Pending:Wait) (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html; the
// event shapes: https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html).
// DescribeAutoScalingInstances reports warm-pool states too (AutoScalingInstanceDetails.LifecycleState:
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AutoScalingInstanceDetails.html).
describe("warm pool", () => {
  const WARM = "i-0c2d3e4f5a6b7c8d9";
  const intoPool = async () => JSON.parse(await readFile(`${EVENTS}/autoscaling-warm-pool-launch-into-pool.json`, "utf8"));
  const leavePool = async () => JSON.parse(await readFile(`${EVENTS}/autoscaling-warm-pool-leave-pool.json`, "utf8"));
  const warmHook = (token: string) => ({ ...HOOK, InstanceId: WARM, LifecycleActionToken: token });
  const ec2Writes = () => WRITES.map((c) => ec2.ec2.commandCalls(c as never).length).reduce((a, b) => a + b, 0);

  it("the sample events say what the docs say: EC2 → WarmPool, then WarmPool → AutoScalingGroup", async () => {
    expect((await intoPool()).detail).toMatchObject({ Origin: "EC2", Destination: "WarmPool", LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING" });
    expect((await leavePool()).detail).toMatchObject({ Origin: "WarmPool", Destination: "AutoScalingGroup", LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING" });
  });

  it("launching into the pool (Warmed:Pending:Wait): CONTINUE only — no EC2 call at all, the serving instance keeps the ENI and EIP", async () => {
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a", NEW); // the serving instance holds the ENI and the EIP
    ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn", eniId: ENI });
    ec2.instances.set(WARM, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Warmed:Pending:Wait" });
    expect(await handler(await intoPool(), context)).toEqual({ kind: "warming" });
    expect(ec2.ec2.calls()).toHaveLength(0);
    expect(ec2.asg).toHaveReceivedCommandWith(DescribeAutoScalingInstancesCommand, { InstanceIds: [WARM] });
    expect(ec2.asg).toHaveReceivedCommandTimes(CompleteLifecycleActionCommand, 1);
    expect(ec2.asg).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, { ...warmHook("11111111-2222-3333-4444-555555555555"), LifecycleActionResult: "CONTINUE" });
    expect(ec2.instances.get(WARM)!.lifecycle).toBe("Warmed:Stopped");
    expect(ec2.enis.get(ENI)!.attachment?.instanceId).toBe(NEW);
    expect(ec2.addresses.get("eipalloc-0a1b2c3d4e5f60718")!.eniId).toBe(ENI);
    expect(aws.writes()).toEqual({}); // no lease either: nothing is attached, so nothing to serialize
  });

  it("leaving the pool for the group (Pending:Wait, Origin WarmPool): detach from the dead instance, attach, EIP, CONTINUE — as a cold launch", async () => {
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a", OLD);
    ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn", eniId: "eni-0somewhereelse0000" });
    ec2.instances.set(WARM, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
    expect(await handler(await leavePool(), context)).toMatchObject({ kind: "continued", attempts: 1 });
    expect(ec2.ec2).toHaveReceivedCommandWith(DetachNetworkInterfaceCommand, { AttachmentId: `eni-attach-old-${ENI}`, Force: true });
    expect(ec2.ec2).toHaveReceivedCommandWith(AttachNetworkInterfaceCommand, { NetworkInterfaceId: ENI, InstanceId: WARM, DeviceIndex: 1 });
    expect(ec2.ec2).toHaveReceivedCommandWith(AssociateAddressCommand, { AllocationId: "eipalloc-0a1b2c3d4e5f60718", NetworkInterfaceId: ENI, AllowReassociation: true });
    expect(ec2.ec2).toHaveReceivedCommandWith(ModifyNetworkInterfaceAttributeCommand, { NetworkInterfaceId: ENI, SourceDestCheck: { Value: false } });
    expect(ec2.asg).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, { ...warmHook("66666666-7777-8888-9999-000000000000"), LifecycleActionResult: "CONTINUE" });
    expect(ec2Writes()).toBe(4);
    expect(ec2.enis.get(ENI)!.attachment?.instanceId).toBe(WARM);
    expect(ec2.addresses.get("eipalloc-0a1b2c3d4e5f60718")!.eniId).toBe(ENI);
    expect(ec2.instances.get(WARM)!.lifecycle).toBe("InService");
  }, 30_000);

  it("the warm path sends the same EC2 writes as a cold launch of the same world", async () => {
    const sent = () => WRITES.flatMap((c) => ec2.ec2.commandCalls(c as never).map((call) => ({ command: c.name, input: { ...(call.args[0] as { input: Record<string, unknown> }).input } })));
    ec2.instances.set(WARM, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
    await handler(await leavePool(), context);
    const warm = sent().map((w) => JSON.stringify(w).replaceAll(WARM, "<instance>"));
    // A fresh world, and the cold launch event for another instance.
    ec2.restore();
    ec2 = new FakeEc2();
    ec2.instances.set(NEW, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a");
    ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn" });
    vi.resetModules();
    handler = (await import("../../functions/instance-heal.ts")).handler as unknown as Handler;
    await handler(await launch(), context);
    const cold = sent().map((w) => JSON.stringify(w).replaceAll(NEW, "<instance>"));
    expect(warm).toHaveLength(3); // attach, associate, source/dest check
    expect(warm).toEqual(cold);
  });

  it("replayed events change nothing: into-pool after the pool stopped it, leave-pool after it is in service — no writes", async () => {
    ec2.instances.set(WARM, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Warmed:Pending:Wait" });
    await handler(await intoPool(), context);
    ec2.instances.get(WARM)!.lifecycle = "Pending:Wait"; // later it leaves the pool
    await handler(await leavePool(), context);
    ec2.ec2.resetHistory();
    ec2.asg.resetHistory();
    aws.resetHistory();
    expect(await handler(await intoPool(), context)).toEqual({ kind: "already-done", state: "InService" });
    expect(await handler(await leavePool(), context)).toEqual({ kind: "already-done", actions: [] });
    expect(writes()).toBe(0);
    expect(aws.writes()).toEqual({});
  });

  it("an into-pool event replayed while the instance still sits stopped in the pool writes nothing either", async () => {
    ec2.instances.set(WARM, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Warmed:Stopped" });
    expect(await handler(await intoPool(), context)).toEqual({ kind: "already-done", state: "Warmed:Stopped" });
    expect(writes()).toBe(0);
  });

  it("logs whether a heal was a warm start or the cold fallback", async () => {
    ec2.instances.set(WARM, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
    Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: "INFO" }); // read at load: load again
    vi.resetModules();
    try {
      const verbose = (await import("../../functions/instance-heal.ts")).handler as unknown as Handler;
      const event = await leavePool();
      const { lines } = await logged(() => verbose(event, context));
      expect(lines.find((l) => l.message === "instance healed")).toMatchObject({ instanceId: WARM, origin: "WarmPool", kind: "continued" });
    } finally {
      Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: "ERROR" });
    }
  });

  it("a cold launch event without Origin/Destination (older shape) is still healed as a launch into the group", async () => {
    const event = await launch();
    delete event.detail.Origin;
    delete event.detail.Destination;
    expect(await handler(event, context)).toMatchObject({ kind: "continued" });
    expect(ec2.ec2).toHaveReceivedCommandWith(AttachNetworkInterfaceCommand, { NetworkInterfaceId: ENI, InstanceId: NEW, DeviceIndex: 1 });
  });
});

/** Every EC2, Auto Scaling and DynamoDB call of the run in the order it was sent (sinon numbers calls across mocks). */
const sequence = () => [ec2.ec2, ec2.asg, aws.dynamo]
  .flatMap((mock) => mock.calls().map((call) => ({ id: (call as unknown as { callId: number }).callId, name: (call.args[0] as object).constructor.name.replace(/Command$/, "") })))
  .sort((a, b) => a.id - b.id).map((c) => c.name);

// The clean path in five rounds of calls sent together (functions/heal/heal.ts). Reads that need only the event
// go out together; the ENI's attributes (EIP association, source/dest check) follow it across detach and attach
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-eni.html), so they are set alongside the attach, or
// alongside the detach while the ENI is still on the dead instance; only the attach waits for `available`
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/network-interface-attachments.html).
describe("round trips", () => {
  beforeEach(() => {
    ec2.latencyMs = 10; // calls sent together overlap, so the fake sees them in one round
  });

  it("clean launch: 5 sequential rounds to CompleteLifecycleAction — 4 of EC2 / Auto Scaling and the lease", async () => {
    expect(await handler(await launch(), context)).toMatchObject({ kind: "continued", attempts: 1 });
    expect(ec2.rounds()).toEqual([
      ["DescribeAddresses", "DescribeAutoScalingInstances", "DescribeInstances", "DescribeNetworkInterfaces"],
      ["DescribeAddresses", "DescribeAutoScalingInstances", "DescribeNetworkInterfaces"],
      ["AssociateAddress", "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute"],
      ["CompleteLifecycleAction"],
    ]);
    // The lease's acquire is the one round between the first look and the look under the lease; its release follows the hook.
    const order = sequence();
    expect(order.slice(4, 5)).toEqual(["Put"]);
    expect(order.at(-1)).toBe("Delete");
    expect(ec2.roundOf("CompleteLifecycleAction") + order.slice(0, order.indexOf("CompleteLifecycleAction")).filter((n) => n === "Put").length).toBe(5);
  });

  it("ENI on the dead instance: detach, EIP and source/dest check together; fast polls; then attach", async () => {
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a", OLD);
    expect(await handler(await launch(), context)).toMatchObject({ kind: "continued", attempts: 1 });
    const rounds = ec2.rounds();
    expect(rounds[2]).toEqual(["AssociateAddress", "DetachNetworkInterface", "ModifyNetworkInterfaceAttribute"]);
    // The fake's ENI reads "in-use" for two describes after the detach: three polls, then the attach.
    expect(rounds.slice(3, 6)).toEqual([["DescribeNetworkInterfaces"], ["DescribeNetworkInterfaces"], ["DescribeNetworkInterfaces"]]);
    expect(ec2.ec2).toHaveReceivedCommandWith(DescribeNetworkInterfacesCommand, { NetworkInterfaceIds: [ENI] });
    expect(rounds.slice(6)).toEqual([["AttachNetworkInterface"], ["CompleteLifecycleAction"]]);
    expect(ec2.enis.get(ENI)!.attachment?.instanceId).toBe(NEW);
    expect(ec2.addresses.get("eipalloc-0a1b2c3d4e5f60718")!.eniId).toBe(ENI);
  }, 30_000);

  it("a group named otherwise than its instance's service: the instance's tag decides, one more round", async () => {
    const event = await launch();
    event.detail.AutoScalingGroupName = "proxy-fleet-test_other-site";
    expect(await handler(event, context)).toMatchObject({ kind: "continued" });
    expect(ec2.rounds()[1]).toEqual(["DescribeAddresses", "DescribeAutoScalingInstances", "DescribeNetworkInterfaces"]);
    expect(ec2.roundOf("CompleteLifecycleAction")).toBe(5);
    expect(ec2.ec2).toHaveReceivedCommandWith(DescribeNetworkInterfacesCommand, {
      Filters: [{ Name: "tag:proxy-fleet:service", Values: ["datacenter-vpn"] }, { Name: "tag:proxy-fleet:stage", Values: ["test"] }],
    });
    expect(ec2.enis.get(ENI)!.attachment?.instanceId).toBe(NEW);
  });
});

// A serving instance that stops or shuts down is replaced at once: SetInstanceHealth Unhealthy, not respecting the
// grace period (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceHealth.html), instead of
// waiting for Auto Scaling's next health check. EC2 sends a state-change event for each of these states
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html).
describe("fast detection: an instance stopping or shutting down", () => {
  const stopping = async () => JSON.parse(await readFile(`${EVENTS}/ec2-instance-state-change-stopping.json`, "utf8"));

  it("the sample says what EC2 sends: the instance id and the state it is entering", async () => {
    expect((await stopping()).detail).toEqual({ "instance-id": OLD, state: "stopping" });
  });

  it("a serving instance stopping: marked unhealthy (grace period ignored) and its ENI detached, in one round after one look", async () => {
    ec2.latencyMs = 10;
    ec2.instances.set(OLD, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "InService" });
    ec2.addEni(ENI, "datacenter-vpn", "us-east-1a", OLD);
    expect(await handler(await stopping(), context)).toEqual({ kind: "detached", eniId: ENI, replacing: true });
    expect(ec2.asg).toHaveReceivedCommandWith(SetInstanceHealthCommand, { InstanceId: OLD, HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false });
    expect(ec2.ec2).toHaveReceivedCommandWith(DetachNetworkInterfaceCommand, { AttachmentId: `eni-attach-old-${ENI}`, Force: true });
    expect(ec2.rounds()).toEqual([
      ["DescribeAutoScalingInstances", "DescribeInstances", "DescribeNetworkInterfaces"],
      ["DetachNetworkInterface", "SetInstanceHealth"],
    ]);
  });

  it("shutting down while in service: marked unhealthy too", async () => {
    ec2.instances.set(OLD, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "InService" });
    const event = await stopping();
    event.detail.state = "shutting-down";
    expect(await handler(event, context)).toEqual({ kind: "nothing-attached", replacing: true });
    expect(ec2.healthMarks).toEqual([{ instanceId: OLD, status: "Unhealthy", respectGrace: false }]);
  });

  it("never marks an instance Auto Scaling is already taking out, one stopping into the warm pool, or one already terminated", async () => {
    for (const [lifecycle, state] of [["Terminating", "shutting-down"], ["Warmed:Pending", "stopping"], ["InService", "terminated"]] as const) {
      ec2.instances.set(OLD, { az: "us-east-1a", service: "datacenter-vpn", lifecycle });
      const event = await stopping();
      event.detail.state = state;
      expect(await handler(event, context), `${lifecycle} ${state}`).toEqual({ kind: "nothing-attached" });
    }
    expect(ec2.asg).not.toHaveReceivedCommand(SetInstanceHealthCommand);
    expect(writes()).toBe(0);
  });

  it("an instance of another stage stopping is not ours: nothing marked, nothing detached", async () => {
    ec2.instances.set(OLD, { az: "us-east-1a", service: "datacenter-vpn", stage: "prod", lifecycle: "InService" });
    expect(await handler(await stopping(), context)).toMatchObject({ kind: "not-ours" });
    expect(writes()).toBe(0);
  });
});
