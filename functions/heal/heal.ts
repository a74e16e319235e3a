// The instance-heal loop. On a launch lifecycle action: give the new instance its service's persistent
// ENI (detaching it from a dead instance first) and Elastic IP, then let the launch continue. While it
// retries it keeps the hook alive with heartbeats; when retries run out it abandons the launch with a
// reason. On an instance stopping or terminating: have Auto Scaling replace a serving instance at once, and
// detach its persistent ENI early, so the replacement attaches fast. Idempotent: a repeated or late event finds
// nothing to do. One run per ENI at a time (a lease).
//
// Round trips on the clean path, launch event → CompleteLifecycleAction (calls of one round go out together):
//   1 DescribeInstances | DescribeAutoScalingInstances | DescribeNetworkInterfaces | DescribeAddresses
//   2 the lease (DynamoDB)
//   3 DescribeAutoScalingInstances | DescribeNetworkInterfaces | DescribeAddresses (what the lease holder sees)
//   4 AttachNetworkInterface | AssociateAddress | ModifyNetworkInterfaceAttribute
//   5 CompleteLifecycleAction                                   (then the lease's release)
// With the ENI still on the dead instance, round 4 detaches instead of attaching, the ENI is polled until
// available (250 ms, 500 ms, 1 s, then every 2 s) and the attach is a round of its own.
import type { LeaseStore } from "../dns/ports.ts";
import { inRounds, planAttachment, type HealAction } from "./plan.ts";
import type { AutoScalingApi, ElasticIp, Ec2Api, Instance, LifecycleHook, PersistentEni } from "./ports.ts";

export interface HealPorts {
  readonly ec2: Ec2Api;
  readonly autoScaling: AutoScalingApi;
  readonly leases: LeaseStore;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

export interface HealPolicy {
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly detachWaitSeconds: number;
}

export const DEFAULT_POLICY: HealPolicy = { maxAttempts: 3, backoffMs: 2_000, detachWaitSeconds: 45 };

/**
 * How long one EC2 / Auto Scaling / DynamoDB call may take at most: the adapters configure their clients with
 * these limits (standard retry mode, so no client-side rate limiter adds waits).
 */
export const CALL_LIMITS = { connectionTimeoutMs: 1_000, requestTimeoutMs: 3_000, maxAttempts: 3 } as const;

/** One call's worst case: every try times out, plus the SDK's standard backoff (≤ 2^n × 100 ms between tries). */
export const CALL_WORST_CASE_MS =
  CALL_LIMITS.maxAttempts * (CALL_LIMITS.connectionTimeoutMs + CALL_LIMITS.requestTimeoutMs)
  + Array.from({ length: CALL_LIMITS.maxAttempts - 1 }, (_, i) => 2 ** (i + 1) * 100).reduce((a, b) => a + b, 0);

/**
 * Rounds of calls made once per launch event (the calls of a round run concurrently, so a round costs one call's
 * time): the first look, a second look when the instance names another service than its group, the lease, the
 * look under the lease, complete/abandon, the lease's release.
 */
const FIXED_ROUNDS = 6;
/** Rounds in one attempt at most: detach | associate | modify, the last poll of the detaching ENI, attach. */
const ROUNDS_PER_ATTEMPT = 3;
/** Rounds between two attempts: the heartbeat, and looking at EC2 again. */
const ROUNDS_BETWEEN_ATTEMPTS = 2;

/**
 * Sleeps before each poll of a force-detached ENI: short at first, when the detach is most likely done, then every
 * 2 s, instead of the SDK waiter's fixed multi-second delays; bounded in total by the policy's detachWaitSeconds.
 */
export const DETACH_POLL_DELAYS_MS: readonly number[] = [250, 500, 1_000, 2_000];

/** The sleeps of one wait for a detaching ENI: the schedule above, the last delay repeated, never past `maxWaitMs` in total. */
export function detachPollDelays(maxWaitMs: number): number[] {
  const delays: number[] = [];
  let total = 0;
  for (let i = 0; ; i++) {
    const delay = DETACH_POLL_DELAYS_MS[Math.min(i, DETACH_POLL_DELAYS_MS.length - 1)]!;
    if (total + delay > maxWaitMs) return delays;
    delays.push(delay);
    total += delay;
  }
}

/**
 * The longest one launch event can keep the heal Lambda busy: every call at its worst, every attempt failing
 * after waiting the whole detach budget, every backoff slept. The stack sizes the Lambda timeout, the lease
 * and the lifecycle hook's heartbeat timeout from it.
 */
export function healWorstCaseMs(policy: HealPolicy = DEFAULT_POLICY): number {
  let between = 0;
  for (let attempt = 1; attempt < policy.maxAttempts; attempt++) between += ROUNDS_BETWEEN_ATTEMPTS * CALL_WORST_CASE_MS + policy.backoffMs * 2 ** (attempt - 1);
  return FIXED_ROUNDS * CALL_WORST_CASE_MS
    + policy.maxAttempts * (ROUNDS_PER_ATTEMPT * CALL_WORST_CASE_MS + policy.detachWaitSeconds * 1000)
    + between;
}

/** What the stack gives the heal Lambda: its worst case plus a minute for a cold start and logging. */
export const HEAL_TIMEOUT_SECONDS = Math.ceil(healWorstCaseMs() / 1000) + 60;

/**
 * The launch hook's heartbeat timeout: the instance may have to wait for a whole worst-case heal, plus the time
 * EventBridge and Lambda's async queue take to deliver the event (a throttled first try is retried).
 */
export const EVENT_DELIVERY_ALLOWANCE_SECONDS = 120;
export const LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS = HEAL_TIMEOUT_SECONDS + EVENT_DELIVERY_ALLOWANCE_SECONDS;

export type LaunchOutcome =
  | { readonly kind: "not-ours"; readonly reason: string }
  | { readonly kind: "busy"; readonly eniId: string }
  | { readonly kind: "already-done"; readonly actions: readonly HealAction[] }
  | { readonly kind: "continued"; readonly actions: readonly HealAction[]; readonly attempts: number; readonly attachedAfterMs: number }
  | { readonly kind: "abandoned"; readonly reason: string; readonly attempts: number };

/** A lease outlives any run that holds it, so it never expires under a live holder. */
const LEASE_MS = HEAL_TIMEOUT_SECONDS * 1000;

/** What EC2 and Auto Scaling say about one launching instance, and what that leaves to do. */
interface Seen {
  readonly waiting: boolean;
  readonly eni: PersistentEni | undefined;
  readonly actions: readonly HealAction[];
  readonly done: boolean;
}

function see(instance: Instance, state: string | undefined, enis: readonly PersistentEni[], eip: ElasticIp | undefined): Seen {
  const waiting = state === "Pending:Wait";
  const eni = enis.find((e) => e.availabilityZone === instance.availabilityZone);
  const actions = eni ? planAttachment(instance, eni, eip) : [];
  return { waiting, eni, actions, done: !waiting && eni !== undefined && actions.length === 0 };
}

/**
 * `serviceOfGroup`: the service the launching group's name says (stacks name a site's group after its service), so
 * the first round looks up its ENIs and Elastic IP together with the instance. The instance's own tag decides: when
 * it names another service, or none is given, its ENIs and EIP are looked up in a second round.
 */
export async function healLaunch(
  hook: LifecycleHook, eventTime: number, ports: HealPorts, policy: HealPolicy = DEFAULT_POLICY, serviceOfGroup?: string,
): Promise<LaunchOutcome> {
  const [instance, firstState, guessedEnis, guessedEip] = await Promise.all([
    ports.ec2.describeInstance(hook.instanceId),
    ports.autoScaling.lifecycleState(hook.instanceId),
    serviceOfGroup ? ports.ec2.findEnis(serviceOfGroup) : undefined,
    serviceOfGroup ? ports.ec2.findElasticIp(serviceOfGroup) : undefined,
  ]);
  const service = instance?.service;
  if (!instance) return { kind: "not-ours", reason: `instance ${hook.instanceId} does not exist (a late or replayed event)` };
  if (!service) return { kind: "not-ours", reason: `instance ${hook.instanceId} is not a proxy-fleet instance of this stage` };

  /** What EC2 and Auto Scaling say now: one round of three concurrent reads. */
  const look = async (): Promise<Seen> => {
    const [state, enis, eip] = await Promise.all([
      ports.autoScaling.lifecycleState(hook.instanceId), ports.ec2.findEnis(service), ports.ec2.findElasticIp(service),
    ]);
    return see(instance, state, enis, eip);
  };

  let seen = service === serviceOfGroup ? see(instance, firstState, guessedEnis ?? [], guessedEip) : await look();
  if (!seen.eni) {
    // Without its ENI the instance cannot serve: better no instance than a wrong one.
    if (seen.waiting) await ports.autoScaling.complete(hook, "ABANDON");
    return { kind: "abandoned", reason: `no persistent ENI for ${service} in ${instance.availabilityZone}`, attempts: 0 };
  }
  // A repeated or late event: nothing to change and no hook waiting, so nothing is written at all.
  if (seen.done) return { kind: "already-done", actions: [] };

  const eniId = seen.eni.id;
  const holder = `${hook.instanceId}/${hook.lifecycleActionToken}`;
  if (!(await ports.leases.acquire(`eni#${eniId}`, holder, ports.now(), LEASE_MS))) return { kind: "busy", eniId };
  try {
    // Whoever held the lease before may have finished the job meanwhile.
    seen = await look();
    if (seen.done) return { kind: "already-done", actions: [] };
    const waiting = seen.waiting;
    let lastError = "";
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      try {
        // Every retry plans from what EC2 says now: a half-done earlier attempt is simply continued.
        if (attempt > 1) seen = await look();
        if (!seen.eni) throw new Error(`persistent ENI ${eniId} disappeared`);
        for (const round of inRounds(seen.actions)) await allOf(round.map((action) => apply(action, ports.ec2, policy)));
        if (waiting) await ports.autoScaling.complete(hook, "CONTINUE");
        return { kind: "continued", actions: seen.actions, attempts: attempt, attachedAfterMs: ports.now() - eventTime };
      } catch (error) {
        lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        if (attempt === policy.maxAttempts) break;
        // Keep the instance waiting in Pending:Wait while we retry.
        if (waiting) await ports.autoScaling.heartbeat(hook).catch(() => undefined);
        await ports.sleep(policy.backoffMs * 2 ** (attempt - 1));
      }
    }
    const reason = `could not attach ${eniId} to ${hook.instanceId} after ${policy.maxAttempts} attempts: ${lastError}`;
    if (waiting) await ports.autoScaling.complete(hook, "ABANDON");
    return { kind: "abandoned", reason, attempts: policy.maxAttempts };
  } finally {
    await ports.leases.release(`eni#${eniId}`, holder);
  }
}

/** Runs a round's calls together and waits for all of them, so no call of a failed round overlaps the retry. */
async function allOf(calls: readonly Promise<void>[]): Promise<void> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
}

/** Auto Scaling's state for an instance launching into the warm pool while the launch hook holds it. */
export const WARM_POOL_WAIT_STATE = "Warmed:Pending:Wait";

export type WarmPoolOutcome =
  | { readonly kind: "warming" }
  | { readonly kind: "already-done"; readonly state: string | undefined };

/**
 * An instance launching into the warm pool only warms up (user data, then stopped): it must not take the site's
 * ENI or Elastic IP, which the serving instance holds. Its hook is completed with CONTINUE and nothing else is
 * written; it gets the ENI and EIP when it leaves the pool (Pending:Wait, Origin WarmPool), like a cold launch.
 * A replayed event finds the instance no longer in Warmed:Pending:Wait and writes nothing.
 */
export async function continueIntoWarmPool(hook: LifecycleHook, ports: Pick<HealPorts, "autoScaling">): Promise<WarmPoolOutcome> {
  const state = await ports.autoScaling.lifecycleState(hook.instanceId);
  if (state !== WARM_POOL_WAIT_STATE) return { kind: "already-done", state };
  await ports.autoScaling.complete(hook, "CONTINUE");
  return { kind: "warming" };
}

export type TerminationOutcome =
  | { readonly kind: "not-ours"; readonly reason: string }
  | { readonly kind: "nothing-attached"; readonly replacing?: true }
  | { readonly kind: "detached"; readonly eniId: string; readonly replacing?: true };

/** EC2 states of an instance on its way out (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html). */
export const LEAVING_STATES = ["stopping", "shutting-down", "terminated"] as const;
/** Auto Scaling's state of an instance that serves; only such an instance is marked unhealthy. */
export const IN_SERVICE = "InService";

/**
 * An instance stopping or terminating. A serving instance (InService) is marked unhealthy at once, so Auto Scaling
 * replaces it now rather than at its next health check; one Auto Scaling itself is taking out (Terminating), or a
 * warm-pool instance being stopped into the pool (Warmed:*), is not. Its persistent ENI, if any, is detached early.
 * Two rounds: the instance, its group state and its ENI together; then the health mark and the detach together.
 */
export async function healTermination(instanceId: string, state: string, ports: HealPorts): Promise<TerminationOutcome> {
  const [instance, lifecycle, eni] = await Promise.all([
    ports.ec2.describeInstance(instanceId),
    ports.autoScaling.lifecycleState(instanceId),
    ports.ec2.findEniOf(instanceId),
  ]);
  if (!instance) return { kind: "not-ours", reason: `instance ${instanceId} does not exist (a late or replayed event)` };
  if (!instance.service) return { kind: "not-ours", reason: `instance ${instanceId} is not a proxy-fleet instance of this stage` };
  const replace = lifecycle === IN_SERVICE && state !== "terminated";
  const attachment = eni?.attachment;
  await allOf([
    ...(replace ? [ports.autoScaling.markUnhealthy(instanceId)] : []),
    ...(attachment ? [ports.ec2.detachEni(attachment.id)] : []),
  ]);
  const replacing = replace ? { replacing: true as const } : {};
  return attachment ? { kind: "detached", eniId: eni!.id, ...replacing } : { kind: "nothing-attached", ...replacing };
}

async function apply(action: HealAction, ec2: Ec2Api, policy: HealPolicy): Promise<void> {
  switch (action.kind) {
    case "detach": return ec2.detachEni(action.attachmentId);
    case "wait-available": return ec2.waitUntilAvailable(action.eniId, policy.detachWaitSeconds);
    case "attach": return ec2.attachEni(action.eniId, action.instanceId, action.deviceIndex);
    case "associate-eip": return ec2.associateElasticIp(action.allocationId, action.eniId);
    case "disable-source-dest-check": return ec2.disableSourceDestCheck(action.eniId);
  }
}
