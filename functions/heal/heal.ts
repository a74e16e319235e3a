// The instance-heal loop. On a launch lifecycle action: give the new instance its service's persistent
// ENI (detaching it from a dead instance first) and Elastic IP, then let the launch continue. While it
// retries it keeps the hook alive with heartbeats; when retries run out it abandons the launch with a
// reason. On a termination: detach the dying instance's persistent ENI early, so the replacement attaches
// fast. Idempotent: a repeated or late event finds nothing to do. One run per ENI at a time (a lease).
import type { LeaseStore } from "../dns/ports.ts";
import { planAttachment, type HealAction } from "./plan.ts";
import type { AutoScalingApi, Ec2Api, LifecycleHook } from "./ports.ts";

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

/** Calls made once per launch event: describe, observe, lease, observe again, complete/abandon, release. */
const FIXED_CALLS = 6;
/** Calls in one attempt at most: detach, the waiter's last poll, attach, associate, modify. */
const CALLS_PER_ATTEMPT = 5;
/** Calls between two attempts: the heartbeat, and observing EC2 again. */
const CALLS_BETWEEN_ATTEMPTS = 2;

/**
 * The longest one launch event can keep the heal Lambda busy: every call at its worst, every attempt failing
 * after waiting the whole detach budget, every backoff slept. The stack sizes the Lambda timeout, the lease
 * and the lifecycle hook's heartbeat timeout from it.
 */
export function healWorstCaseMs(policy: HealPolicy = DEFAULT_POLICY): number {
  let between = 0;
  for (let attempt = 1; attempt < policy.maxAttempts; attempt++) between += CALLS_BETWEEN_ATTEMPTS * CALL_WORST_CASE_MS + policy.backoffMs * 2 ** (attempt - 1);
  return FIXED_CALLS * CALL_WORST_CASE_MS
    + policy.maxAttempts * (CALLS_PER_ATTEMPT * CALL_WORST_CASE_MS + policy.detachWaitSeconds * 1000)
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

export async function healLaunch(hook: LifecycleHook, eventTime: number, ports: HealPorts, policy: HealPolicy = DEFAULT_POLICY): Promise<LaunchOutcome> {
  const instance = await ports.ec2.describeInstance(hook.instanceId);
  const service = instance?.service;
  if (!instance) return { kind: "not-ours", reason: `instance ${hook.instanceId} does not exist (a late or replayed event)` };
  if (!service) return { kind: "not-ours", reason: `instance ${hook.instanceId} is not a proxy-fleet instance of this stage` };

  /** What EC2 and Auto Scaling say now, and what that leaves to do. */
  const observe = async () => {
    const [state, eni, eip] = await Promise.all([
      ports.autoScaling.lifecycleState(hook.instanceId),
      ports.ec2.findEni(service, instance.availabilityZone),
      ports.ec2.findElasticIp(service),
    ]);
    const waiting = state === "Pending:Wait";
    const actions = eni ? planAttachment(instance, eni, eip) : [];
    return { waiting, eni, actions, done: !waiting && eni !== undefined && actions.length === 0 };
  };

  let seen = await observe();
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
    seen = await observe();
    if (seen.done) return { kind: "already-done", actions: [] };
    const waiting = seen.waiting;
    let lastError = "";
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      try {
        // Every retry plans from what EC2 says now: a half-done earlier attempt is simply continued.
        if (attempt > 1) seen = await observe();
        if (!seen.eni) throw new Error(`persistent ENI ${eniId} disappeared`);
        for (const action of seen.actions) await apply(action, ports.ec2, policy);
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
  | { readonly kind: "nothing-attached" }
  | { readonly kind: "detached"; readonly eniId: string };

export async function healTermination(instanceId: string, ports: HealPorts): Promise<TerminationOutcome> {
  const instance = await ports.ec2.describeInstance(instanceId);
  if (!instance) return { kind: "not-ours", reason: `instance ${instanceId} does not exist (a late or replayed event)` };
  if (!instance.service) return { kind: "not-ours", reason: `instance ${instanceId} is not a proxy-fleet instance of this stage` };
  const eni = await ports.ec2.findEniOf(instanceId);
  if (!eni?.attachment) return { kind: "nothing-attached" };
  await ports.ec2.detachEni(eni.attachment.id);
  return { kind: "detached", eniId: eni.id };
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
