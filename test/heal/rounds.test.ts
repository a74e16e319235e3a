// The pure parts of heal's speed: which calls go out together (inRounds), the detach poll schedule, and the service
// a group's name gives; the EC2 adapter's poll of a detaching ENI through the real client, on a fake clock; and the
// Auto Scaling adapter's health mark.
import { AutoScalingClient, SetInstanceHealthCommand } from "@aws-sdk/client-auto-scaling";
import { DescribeNetworkInterfacesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { autoScalingApi, ec2Api } from "../../functions/aws/ec2.ts";
import { serviceOfGroup } from "../../functions/heal/events.ts";
import { DETACH_POLL_DELAYS_MS, detachPollDelays } from "../../functions/heal/heal.ts";
import { inRounds, planAttachment } from "../../functions/heal/plan.ts";
import { stageName } from "../../stacks/settings.ts";

const instance = { id: "i-new", availabilityZone: "us-east-1a", service: "vpn" };
const eni = (attachedTo?: string) => ({
  id: "eni-1", availabilityZone: "us-east-1a", sourceDestCheck: true,
  ...(attachedTo ? { attachment: { id: "eni-attach-1", instanceId: attachedTo, deviceIndex: 1 } } : {}),
});
const kinds = (rounds: { kind: string }[][]) => rounds.map((r) => r.map((a) => a.kind));

describe("inRounds", () => {
  it("a free ENI: attach, EIP and source/dest check in one round", () => {
    expect(kinds(inRounds(planAttachment(instance, eni(), { allocationId: "eipalloc-1" })))).toEqual([["attach", "associate-eip", "disable-source-dest-check"]]);
  });

  it("an ENI on a dead instance: detach with the EIP and source/dest check, then the wait, then the attach", () => {
    expect(kinds(inRounds(planAttachment(instance, eni("i-dead"), { allocationId: "eipalloc-1" })))).toEqual([
      ["detach", "associate-eip", "disable-source-dest-check"], ["wait-available"], ["attach"],
    ]);
  });

  it("only what is left to do, each action exactly once; nothing left is no round at all", () => {
    const done = { ...eni("i-new"), sourceDestCheck: false };
    expect(inRounds(planAttachment(instance, done, { allocationId: "eipalloc-1", networkInterfaceId: "eni-1" }))).toEqual([]);
    const actions = planAttachment(instance, eni("i-dead"), undefined);
    expect(inRounds(actions).flat().sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([...actions].sort((a, b) => a.kind.localeCompare(b.kind)));
  });
});

describe("detachPollDelays", () => {
  it("polls at 250 ms, 500 ms, 1 s, then every 2 s, never sleeping past the bound in total", () => {
    expect(DETACH_POLL_DELAYS_MS).toEqual([250, 500, 1_000, 2_000]);
    expect(detachPollDelays(10_000)).toEqual([250, 500, 1_000, 2_000, 2_000, 2_000, 2_000]);
    expect(detachPollDelays(45_000).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(45_000);
    expect(detachPollDelays(45_000).reduce((a, b) => a + b, 0)).toBeGreaterThan(45_000 - 2_000);
    expect(detachPollDelays(200)).toEqual([]);
  });
});

describe("serviceOfGroup", () => {
  it("reads back the service from the name the stacks give a site's group, and nothing from another shape", () => {
    expect(serviceOfGroup(stageName("test", "datacenter-vpn"))).toBe("datacenter-vpn");
    expect(serviceOfGroup(stageName("dev-2", "partner_forward"))).toBe("partner_forward");
    expect(serviceOfGroup("my-own-group")).toBeUndefined();
  });
});

describe("the EC2 adapter's wait for a detaching ENI", () => {
  function world(statuses: (string | Error)[]) {
    const ec2 = mockClient(EC2Client);
    let clock = 0;
    const sleeps: number[] = [];
    ec2.on(DescribeNetworkInterfacesCommand).callsFake(async () => {
      const next = statuses.shift() ?? "in-use";
      if (next instanceof Error) throw next;
      return { NetworkInterfaces: [{ NetworkInterfaceId: "eni-1", Status: next }] };
    });
    const api = ec2Api(new EC2Client({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } }), "test", {
      sleep: async (ms) => { sleeps.push(ms); clock += ms; },
      now: () => clock,
    });
    return { ec2, api, sleeps };
  }

  it("returns at the first poll that reads available, having slept 250 ms, 500 ms, 1 s", async () => {
    const { ec2, api, sleeps } = world(["in-use", "detaching", "available"]);
    await api.waitUntilAvailable("eni-1", 45);
    expect(sleeps).toEqual([250, 500, 1_000]);
    expect(ec2.commandCalls(DescribeNetworkInterfacesCommand).map((c) => c.args[0].input)).toEqual(Array(3).fill({ NetworkInterfaceIds: ["eni-1"] }));
    ec2.restore();
  });

  it("gives up within the bound, naming the ENI and the wait", async () => {
    const { ec2, api, sleeps } = world([]);
    await expect(api.waitUntilAvailable("eni-1", 5)).rejects.toThrow(/persistent ENI eni-1 was not available 5 s after the detach/);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5_000);
    expect(sleeps).toEqual([250, 500, 1_000, 2_000]);
    ec2.restore();
  });

  it("an ENI that EC2 no longer knows is an error of its own", async () => {
    const gone = Object.assign(new Error("The networkInterface ID 'eni-1' does not exist"), { name: "InvalidNetworkInterfaceID.NotFound", $metadata: { httpStatusCode: 400 } });
    const { ec2, api } = world([gone]);
    await expect(api.waitUntilAvailable("eni-1", 45)).rejects.toThrow(/eni-1 disappeared while detaching/);
    ec2.restore();
  });
});

describe("the Auto Scaling adapter's health mark", () => {
  const client = () => new AutoScalingClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });

  it("marks Unhealthy without the grace period; an instance already out of the group is no error, anything else is", async () => {
    const asg = mockClient(AutoScalingClient);
    const notFound = Object.assign(new Error("Instance Id not found - No managed instance found for instance ID: i-gone"), { name: "ValidationError", $metadata: { httpStatusCode: 400 } });
    asg.on(SetInstanceHealthCommand, { InstanceId: "i-gone" }).rejects(notFound);
    asg.on(SetInstanceHealthCommand, { InstanceId: "i-throttled" }).rejects(Object.assign(new Error("Rate exceeded"), { name: "Throttling", $metadata: { httpStatusCode: 400 } }));
    asg.on(SetInstanceHealthCommand, { InstanceId: "i-serving" }).resolves({});
    const api = autoScalingApi(client());
    await api.markUnhealthy("i-serving");
    expect(asg.commandCalls(SetInstanceHealthCommand)[0]!.args[0].input).toEqual({ InstanceId: "i-serving", HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false });
    await expect(api.markUnhealthy("i-gone")).resolves.toBeUndefined();
    await expect(api.markUnhealthy("i-throttled")).rejects.toThrow(/Rate exceeded/);
    asg.restore();
  });
});
