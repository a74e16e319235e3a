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
  /** The proxy-fleet service it belongs to (its tag). */
  readonly service?: string;
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
  /**
   * The service's persistent ENIs, one per availability zone (by tag). Every zone's, so the lookup needs only the
   * service and can run before the instance's zone is known.
   */
  findEnis(service: string): Promise<readonly PersistentEni[]>;
  /** The persistent ENI attached to an instance, if any. */
  findEniOf(instanceId: string): Promise<PersistentEni | undefined>;
  findElasticIp(service: string): Promise<ElasticIp | undefined>;
  detachEni(attachmentId: string): Promise<void>;
  /**
   * Bounded: throws when the ENI is not available in time. Polls fast at first (functions/heal/heal.ts
   * detachPollDelays): a poll starts only within `maxWaitSeconds`, so it returns by then plus one call.
   */
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
  /** "Pending:Wait" while the hook waits; anything else means it no longer does; undefined: not in a group. */
  lifecycleState(instanceId: string): Promise<string | undefined>;
  /** Marks an instance unhealthy at once (no grace period): Auto Scaling terminates and replaces it. */
  markUnhealthy(instanceId: string): Promise<void>;
  heartbeat(hook: LifecycleHook): Promise<void>;
  complete(hook: LifecycleHook, result: "CONTINUE" | "ABANDON"): Promise<void>;
}
