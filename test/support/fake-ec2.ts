// EC2 and Auto Scaling in memory behind aws-sdk-client-mock: instances, persistent ENIs (detaching takes
// a moment, as in EC2), Elastic IPs and lifecycle hooks. Every call is logged with its round: calls started
// before any earlier one finished share a round, so the log shows what went out together and the sequential depth.
import {
  AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, RecordLifecycleActionHeartbeatCommand,
  SetInstanceHealthCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  AssociateAddressCommand, AttachNetworkInterfaceCommand, DescribeAddressesCommand, DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand, DetachNetworkInterfaceCommand, EC2Client, EC2ServiceException, ModifyNetworkInterfaceAttributeCommand,
} from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";

export const WRITES = [AttachNetworkInterfaceCommand, DetachNetworkInterfaceCommand, AssociateAddressCommand, ModifyNetworkInterfaceAttributeCommand];
export const HOOK_WRITES = [CompleteLifecycleActionCommand, RecordLifecycleActionHeartbeatCommand, SetInstanceHealthCommand];

/** One call as the fake saw it: the command's name (without "Command") and its round (1 = sent first). */
export interface LoggedCall { readonly command: string; readonly round: number }

interface Eni { id: string; az: string; service: string; stage: string; sdc: boolean; attachment?: { id: string; instanceId: string }; detachingPolls: number }

export class FakeEc2 {
  readonly ec2 = mockClient(EC2Client);
  readonly asg = mockClient(AutoScalingClient);
  readonly instances = new Map<string, { az: string; service?: string; stage?: string; lifecycle: string }>();
  readonly enis = new Map<string, Eni>();
  readonly addresses = new Map<string, { service: string; stage?: string; eniId?: string }>();
  /** How many AttachNetworkInterface calls fail with throttling before one succeeds (Infinity: all). */
  attachThrottles = 0;
  /** Latency added to every call, as a far-away API would have. */
  latencyMs = 0;
  /** Every call in the order it arrived, with its round. */
  readonly log: LoggedCall[] = [];
  /** Instances marked by SetInstanceHealth, with the grace-period flag they were marked with. */
  readonly healthMarks: { instanceId: string; status: string; respectGrace: boolean | undefined }[] = [];
  private finishedRound = 0;
  private counter = 0;

  /** The stage every instance, ENI and address is tagged with unless it says otherwise. */
  readonly stage: string;

  constructor(stage = "test") {
    this.stage = stage;
    this.ec2.on(DescribeInstancesCommand).callsFake(async (input) => {
      await this.delay("DescribeInstances");
      const unknown = input.InstanceIds.filter((id: string) => !this.instances.has(id));
      // EC2 answers unknown ids with an error, not an empty list (the exception shape the SDK builds from it).
      if (unknown.length > 0) {
        throw new EC2ServiceException({
          name: "InvalidInstanceID.NotFound", $fault: "client", $metadata: { httpStatusCode: 400 },
          message: `The instance ID '${unknown.join(", ")}' does not exist`,
        });
      }
      return {
        Reservations: input.InstanceIds.map((id: string) => {
          const i = this.instances.get(id)!;
          const tags = i.service ? [{ Key: "proxy-fleet:service", Value: i.service }, { Key: "proxy-fleet:stage", Value: i.stage ?? this.stage }] : [];
          return { Instances: [{ InstanceId: id, Placement: { AvailabilityZone: i.az }, Tags: tags }] };
        }),
      };
    });
    this.ec2.on(DescribeNetworkInterfacesCommand).callsFake(async (input) => {
      await this.delay("DescribeNetworkInterfaces");
      const filter = (name: string) => input.Filters?.find((f: { Name: string }) => f.Name === name)?.Values?.[0];
      let list = [...this.enis.values()];
      if (input.NetworkInterfaceIds) list = list.filter((e) => input.NetworkInterfaceIds.includes(e.id));
      if (filter("tag:proxy-fleet:service")) list = list.filter((e) => e.service === filter("tag:proxy-fleet:service"));
      if (filter("tag:proxy-fleet:stage")) list = list.filter((e) => e.stage === filter("tag:proxy-fleet:stage"));
      if (filter("availability-zone")) list = list.filter((e) => e.az === filter("availability-zone"));
      if (filter("attachment.instance-id")) list = list.filter((e) => e.attachment?.instanceId === filter("attachment.instance-id"));
      return { NetworkInterfaces: list.map((e) => this.describe(e)) };
    });
    this.ec2.on(DetachNetworkInterfaceCommand).callsFake(async (input) => {
      await this.delay("DetachNetworkInterface");
      const eni = [...this.enis.values()].find((e) => e.attachment?.id === input.AttachmentId);
      if (!eni) throw Object.assign(new Error("attachment not found"), { name: "InvalidAttachmentID.NotFound", $metadata: {} });
      eni.attachment = undefined;
      eni.detachingPolls = 2; // "detaching" for two describes, then "available"
      return {};
    });
    this.ec2.on(AttachNetworkInterfaceCommand).callsFake(async (input) => {
      await this.delay("AttachNetworkInterface");
      if (this.attachThrottles > 0) {
        this.attachThrottles--;
        throw Object.assign(new Error("Request limit exceeded."), { name: "RequestLimitExceeded", $fault: "client", $metadata: { httpStatusCode: 503 } });
      }
      const eni = this.enis.get(input.NetworkInterfaceId)!;
      if (eni.attachment || eni.detachingPolls > 0) {
        throw Object.assign(new Error(`Interface: [${eni.id}] in use.`), { name: "InvalidParameterValue", $metadata: { httpStatusCode: 400 } });
      }
      eni.attachment = { id: `eni-attach-${++this.counter}`, instanceId: input.InstanceId };
      return { AttachmentId: eni.attachment.id };
    });
    this.ec2.on(DescribeAddressesCommand).callsFake(async (input) => (await this.delay("DescribeAddresses"), {
      Addresses: [...this.addresses]
        .filter(([, a]) => a.service === input.Filters[0].Values[0] && (a.stage ?? this.stage) === input.Filters.find((f: { Name: string }) => f.Name === "tag:proxy-fleet:stage")?.Values[0])
        .map(([allocationId, a]) => ({ AllocationId: allocationId, ...(a.eniId ? { NetworkInterfaceId: a.eniId, AssociationId: "eipassoc-1" } : {}) })),
    }));
    this.ec2.on(AssociateAddressCommand).callsFake(async (input) => {
      await this.delay("AssociateAddress");
      this.addresses.get(input.AllocationId)!.eniId = input.NetworkInterfaceId;
      return { AssociationId: "eipassoc-2" };
    });
    this.ec2.on(ModifyNetworkInterfaceAttributeCommand).callsFake(async (input) => {
      await this.delay("ModifyNetworkInterfaceAttribute");
      this.enis.get(input.NetworkInterfaceId)!.sdc = input.SourceDestCheck.Value;
      return {};
    });
    this.asg.on(DescribeAutoScalingInstancesCommand).callsFake(async (input) => (await this.delay("DescribeAutoScalingInstances"), {
      AutoScalingInstances: input.InstanceIds.flatMap((id: string) => {
        const i = this.instances.get(id);
        return i ? [{ InstanceId: id, LifecycleState: i.lifecycle }] : [];
      }),
    }));
    // Unhealthy: Auto Scaling terminates and replaces the instance
    // (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceHealth.html).
    this.asg.on(SetInstanceHealthCommand).callsFake(async (input) => {
      await this.delay("SetInstanceHealth");
      const instance = this.instances.get(input.InstanceId);
      if (!instance) throw Object.assign(new Error(`Instance Id not found - No managed instance found for instance ID: ${input.InstanceId}`), { name: "ValidationError", $metadata: { httpStatusCode: 400 } });
      this.healthMarks.push({ instanceId: input.InstanceId, status: input.HealthStatus, respectGrace: input.ShouldRespectGracePeriod });
      if (input.HealthStatus === "Unhealthy") instance.lifecycle = "Terminating";
      return {};
    });
    this.asg.on(RecordLifecycleActionHeartbeatCommand).callsFake(async () => (await this.delay("RecordLifecycleActionHeartbeat"), {}));
    this.asg.on(CompleteLifecycleActionCommand).callsFake(async (input) => {
      await this.delay("CompleteLifecycleAction");
      const instance = this.instances.get(input.InstanceId)!;
      // A warm-pool launch waits in Warmed:Pending:Wait and, continued, is stopped in the pool (Warmed:Stopped).
      const warming = instance.lifecycle === "Warmed:Pending:Wait";
      if (instance.lifecycle !== "Pending:Wait" && !warming) throw Object.assign(new Error("No active Lifecycle Action found"), { name: "ValidationError", $metadata: {} });
      if (warming) instance.lifecycle = input.LifecycleActionResult === "CONTINUE" ? "Warmed:Stopped" : "Warmed:Terminating";
      else instance.lifecycle = input.LifecycleActionResult === "CONTINUE" ? "InService" : "Terminating";
      return {};
    });
  }

  /** Logs the call with its round (one after the last round that finished), then waits the latency. */
  private delay(command: string): Promise<void> {
    const round = this.finishedRound + 1;
    this.log.push({ command, round });
    const wait = this.latencyMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, this.latencyMs)) : Promise.resolve();
    return wait.then(() => { this.finishedRound = Math.max(this.finishedRound, round); });
  }

  /** The round of the first call of `command` (0 if never called): the sequential depth up to and including it. */
  roundOf(command: string): number {
    return this.log.find((c) => c.command === command)?.round ?? 0;
  }

  /** The calls of each round, by command name, sorted within a round. */
  rounds(): string[][] {
    const rounds: string[][] = [];
    for (const { command, round } of this.log) (rounds[round - 1] ??= []).push(command);
    return rounds.map((r) => (r ?? []).sort());
  }

  private describe(e: Eni) {
    const status = e.attachment ? "in-use" : e.detachingPolls > 0 ? (e.detachingPolls--, "in-use") : "available";
    return {
      NetworkInterfaceId: e.id, AvailabilityZone: e.az, SourceDestCheck: e.sdc, Status: status,
      TagSet: [{ Key: "proxy-fleet:service", Value: e.service }, { Key: "proxy-fleet:stage", Value: e.stage }],
      ...(e.attachment ? { Attachment: { AttachmentId: e.attachment.id, InstanceId: e.attachment.instanceId, DeviceIndex: 1, Status: "attached" } } : {}),
    };
  }

  addEni(id: string, service: string, az: string, attachedTo?: string, stage = this.stage) {
    this.enis.set(id, { id, az, service, stage, sdc: true, detachingPolls: 0, ...(attachedTo ? { attachment: { id: `eni-attach-old-${id}`, instanceId: attachedTo } } : {}) });
  }

  restore() {
    this.ec2.restore();
    this.asg.restore();
  }
}
