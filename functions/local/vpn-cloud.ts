// The heal loop's EC2 and Auto Scaling ports, answered by network namespaces: an instance is a namespace, the
// persistent ENI is one veth end (its other end on the local "subnet", a bridge) carrying the persistent
// address, and attaching it moves the interface into the instance's namespace, the way an ENI moves between
// instances. The heal loop (functions/heal/heal.ts) runs on these unchanged, planning with the Lambda's planner.
import { run } from "../../containers/agent/process.ts";
import type { AutoScalingApi, Ec2Api, ElasticIp, Instance, LifecycleHook, PersistentEni } from "../heal/ports.ts";

export const LOCAL_ZONE = "local-1a";

async function ip(args: readonly string[]): Promise<void> {
  const result = await run("ip", args, { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr.trim()}`);
}

interface LocalInstance {
  readonly namespace: string;
  /** "Pending:Wait" until the launch hook completes, then "InService"; "Terminated" once lost. */
  lifecycle: string;
}

export interface LocalEniOptions {
  readonly service: string;
  /** The interface (in `subnet`'s namespace while detached). */
  readonly device: string;
  readonly address: string;
  /** The namespace holding the local subnet (the bridge); a detached ENI waits there, down. */
  readonly subnet: string;
  /** The peer gateways' addresses the instance reaches through the ENI (host routes, no default route). */
  readonly peers: readonly string[];
}

export class LocalCloud implements Ec2Api, AutoScalingApi {
  private readonly instances = new Map<string, LocalInstance>();
  private readonly eni: { id: string; sourceDestCheck: boolean; attachment?: { id: string; instanceId: string; deviceIndex: number } };
  private readonly eip: { allocationId: string; networkInterfaceId?: string };
  private options: LocalEniOptions;
  private attachments = 0;
  /** What happened, in order, for the board (e.g. "attach eni-local to i-local-2"). */
  readonly steps: Array<{ at: number; step: string }> = [];
  /** Called when a dead instance's ENI is detached: its remains (the namespace) can go. */
  onDetachedFromDead: (instanceId: string) => Promise<void> = async () => undefined;

  /** A deployment changed the connections: the next attach routes to these peers. */
  setPeers(peers: readonly string[]): void {
    this.options = { ...this.options, peers: [...peers] };
  }

  constructor(options: LocalEniOptions) {
    this.options = options;
    // A fresh ENI and Elastic IP, as the stack creates them: source/destination check on, EIP not yet associated.
    this.eni = { id: `eni-local-${options.service}`, sourceDestCheck: true };
    this.eip = { allocationId: `eipalloc-local-${options.service}` };
  }

  /** A new instance launching into the service's group, held in Pending:Wait by the launch hook. */
  launch(instanceId: string, namespace: string): LifecycleHook {
    this.instances.set(instanceId, { namespace, lifecycle: "Pending:Wait" });
    return { autoScalingGroupName: `local-${this.options.service}`, lifecycleHookName: "attach-eni", lifecycleActionToken: `token-${instanceId}`, instanceId };
  }

  /** The instance is lost: EC2 no longer describes it, but its ENI stays attached until detached (force). */
  lose(instanceId: string): void {
    const instance = this.instances.get(instanceId);
    if (instance) instance.lifecycle = "Terminated";
  }

  namespaceOf(instanceId: string): string | undefined {
    return this.instances.get(instanceId)?.namespace;
  }

  forget(instanceId: string): void {
    this.instances.delete(instanceId);
  }

  get eniId(): string {
    return this.eni.id;
  }

  // ---- Ec2Api ----

  async describeInstance(id: string): Promise<Instance | undefined> {
    const instance = this.instances.get(id);
    if (!instance || instance.lifecycle === "Terminated") return undefined;
    return { id, availabilityZone: LOCAL_ZONE, service: this.options.service };
  }

  async findEni(service: string, availabilityZone: string): Promise<PersistentEni | undefined> {
    return service === this.options.service && availabilityZone === LOCAL_ZONE ? this.describeEni() : undefined;
  }

  async findEnis(service: string): Promise<readonly PersistentEni[]> {
    return service === this.options.service ? [this.describeEni()] : [];
  }

  async findEniOf(instanceId: string): Promise<PersistentEni | undefined> {
    return this.eni.attachment?.instanceId === instanceId ? this.describeEni() : undefined;
  }

  async findElasticIp(service: string): Promise<ElasticIp | undefined> {
    if (service !== this.options.service) return undefined;
    return { allocationId: this.eip.allocationId, ...(this.eip.networkInterfaceId ? { networkInterfaceId: this.eip.networkInterfaceId } : {}) };
  }

  async detachEni(attachmentId: string): Promise<void> {
    const attachment = this.eni.attachment;
    if (!attachment || attachment.id !== attachmentId) return;
    const from = this.instances.get(attachment.instanceId);
    if (from) await ip(["-n", from.namespace, "link", "set", this.options.device, "netns", this.options.subnet]);
    delete this.eni.attachment;
    this.record(`detach ${this.eni.id} from ${attachment.instanceId}`);
    if (from?.lifecycle === "Terminated") await this.onDetachedFromDead(attachment.instanceId);
  }

  async waitUntilAvailable(eniId: string, maxWaitSeconds: number): Promise<void> {
    const deadline = Date.now() + maxWaitSeconds * 1000;
    for (;;) {
      const here = await run("ip", ["-n", this.options.subnet, "link", "show", "dev", this.options.device], { timeoutMs: 5_000 });
      if (!this.eni.attachment && here.code === 0) return;
      if (Date.now() > deadline) throw new Error(`${eniId} is not available after ${maxWaitSeconds} s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async attachEni(eniId: string, instanceId: string, deviceIndex: number): Promise<void> {
    const instance = this.instances.get(instanceId);
    if (!instance || instance.lifecycle === "Terminated") throw new Error(`InvalidInstanceID.NotFound: ${instanceId}`);
    if (this.eni.attachment) throw new Error(`InvalidParameterValue: ${eniId} is attached to ${this.eni.attachment.instanceId}`);
    const { device, address, subnet, peers } = this.options;
    // Moving an interface to another namespace takes its addresses and routes away: the instance's OS
    // configures the ENI again (as ec2-net-utils does when an ENI is hot-attached).
    await ip(["-n", subnet, "link", "set", device, "netns", instance.namespace]);
    await ip(["-n", instance.namespace, "addr", "add", `${address}/32`, "dev", device]);
    await ip(["-n", instance.namespace, "link", "set", device, "up"]);
    for (const peer of peers) await ip(["-n", instance.namespace, "route", "add", `${peer}/32`, "dev", device]);
    this.eni.attachment = { id: `eni-attach-local-${++this.attachments}`, instanceId, deviceIndex };
    this.record(`attach ${eniId} to ${instanceId} at device index ${deviceIndex}`);
  }

  async associateElasticIp(allocationId: string, eniId: string): Promise<void> {
    // Locally the Elastic IP is the ENI's own address: associating only records it.
    this.eip.networkInterfaceId = eniId;
    this.record(`associate ${allocationId} with ${eniId}`);
  }

  async disableSourceDestCheck(eniId: string): Promise<void> {
    this.eni.sourceDestCheck = false;
    this.record(`disable source/destination check on ${eniId}`);
  }

  // ---- AutoScalingApi ----

  async lifecycleState(instanceId: string): Promise<string | undefined> {
    return this.instances.get(instanceId)?.lifecycle;
  }

  async heartbeat(): Promise<void> {}

  async markUnhealthy(instanceId: string): Promise<void> {
    this.lose(instanceId);
  }

  async complete(hook: LifecycleHook, result: "CONTINUE" | "ABANDON"): Promise<void> {
    const instance = this.instances.get(hook.instanceId);
    if (instance && instance.lifecycle === "Pending:Wait") instance.lifecycle = result === "CONTINUE" ? "InService" : "Terminated";
    this.record(`complete the launch of ${hook.instanceId}: ${result}`);
  }

  private describeEni(): PersistentEni {
    const eni = {
      id: this.eni.id,
      service: this.options.service,
      availabilityZone: LOCAL_ZONE,
      sourceDestCheck: this.eni.sourceDestCheck,
      ...(this.eni.attachment ? { attachment: { ...this.eni.attachment } } : {}),
    };
    return eni;
  }

  private record(step: string): void {
    this.steps.push({ at: Date.now(), step });
  }
}
