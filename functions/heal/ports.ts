// What the instance-heal loop needs from EC2 and Auto Scaling; functions/aws/ implements it.
export const SERVICE_TAG = "proxy-fleet:service";
/** Every persistent ENI, Elastic IP and proxy instance also names its stage: one stage never touches another's. */
export const STAGE_TAG = "proxy-fleet:stage";

export interface Instance {
  readonly id: string;
  readonly availabilityZone: string;
  /** Set only for an instance tagged with a proxy-fleet service of this loop's own stage. */
  readonly service?: string;
}

export interface PersistentEni {
  readonly id: string;
  readonly availabilityZone: string;
  readonly sourceDestCheck: boolean;
  readonly attachment?: { readonly id: string; readonly instanceId: string; readonly deviceIndex: number };
}

export interface ElasticIp {
  readonly allocationId: string;
  readonly networkInterfaceId?: string;
}

export interface Ec2Api {
  /** undefined when EC2 does not know the instance (any more). */
  describeInstance(id: string): Promise<Instance | undefined>;
  /** The service's persistent ENI in one availability zone (by tag). */
  findEni(service: string, availabilityZone: string): Promise<PersistentEni | undefined>;
  /** The persistent ENI attached to an instance, if any. */
  findEniOf(instanceId: string): Promise<PersistentEni | undefined>;
  findElasticIp(service: string): Promise<ElasticIp | undefined>;
  detachEni(attachmentId: string): Promise<void>;
  /** Bounded: throws when the ENI is not available in time. */
  waitUntilAvailable(eniId: string, maxWaitSeconds: number): Promise<void>;
  attachEni(eniId: string, instanceId: string, deviceIndex: number): Promise<void>;
  associateElasticIp(allocationId: string, eniId: string): Promise<void>;
  disableSourceDestCheck(eniId: string): Promise<void>;
}

export interface LifecycleHook {
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  readonly lifecycleActionToken: string;
  readonly instanceId: string;
}

export interface AutoScalingApi {
  /** "Pending:Wait" while the hook waits; anything else means it no longer does. */
  lifecycleState(instanceId: string): Promise<string | undefined>;
  heartbeat(hook: LifecycleHook): Promise<void>;
  complete(hook: LifecycleHook, result: "CONTINUE" | "ABANDON"): Promise<void>;
}
