// Heal's worst case, computed from its constants (healWorstCaseMs), against a run that hits it: every call takes
// its whole budget on a fake clock, every attempt fails after the full detach wait. The stack sizes the Lambda
// timeout and the launch hook's heartbeat timeout from the same numbers (test/stacks/strongswan-sites.test.ts).
import { describe, expect, it } from "vitest";
import {
  CALL_LIMITS, CALL_WORST_CASE_MS, DEFAULT_POLICY, HEAL_TIMEOUT_SECONDS, LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS, healLaunch, healWorstCaseMs,
  type HealPorts,
} from "../../functions/heal/heal.ts";

const HOOK = { autoScalingGroupName: "proxy-fleet-test-vpn", lifecycleHookName: "attach-persistent-eni", lifecycleActionToken: "t", instanceId: "i-0new" };

/** EC2, Auto Scaling and the lease table where every call takes CALL_WORST_CASE_MS (concurrent calls overlap). */
function slowestWorld() {
  let clock = 0;
  const call = async <T>(value: T): Promise<T> => {
    const start = clock;
    await Promise.resolve();
    clock = Math.max(clock, start + CALL_WORST_CASE_MS);
    return value;
  };
  const ports: HealPorts = {
    ec2: {
      describeInstance: () => call({ id: "i-0new", availabilityZone: "us-east-1a", service: "vpn" }),
      // Always attached elsewhere, EIP elsewhere, source/dest check on: every attempt plans every action.
      findEnis: () => call([{ id: "eni-1", availabilityZone: "us-east-1a", sourceDestCheck: true, attachment: { id: "a-1", instanceId: "i-0old", deviceIndex: 1 } }]),
      findEniOf: () => call(undefined),
      findElasticIp: () => call({ allocationId: "eipalloc-1", networkInterfaceId: "eni-other" }),
      detachEni: () => call(undefined),
      // The whole wait, then its last poll.
      waitUntilAvailable: async (_: string, maxWaitSeconds: number) => { clock += maxWaitSeconds * 1000; await call(undefined); },
      // The last action fails every time, so every attempt runs all the others first.
      attachEni: async () => { await call(undefined); throw new Error("RequestLimitExceeded"); },
      associateElasticIp: () => call(undefined),
      disableSourceDestCheck: () => call(undefined),
    },
    autoScaling: {
      lifecycleState: () => call("Pending:Wait"), heartbeat: () => call(undefined), complete: () => call(undefined), markUnhealthy: () => call(undefined),
    },
    leases: { acquire: () => call(true), release: () => call(undefined) },
    sleep: async (ms) => { clock += ms; },
    now: () => clock,
  };
  return { ports, elapsed: () => clock };
}

describe("instance heal timing", () => {
  it("a run that hits every limit takes exactly the computed worst case, and abandons the launch", async () => {
    const world = slowestWorld();
    // No service from the group's name: the second look (a round of its own) is part of the worst case.
    const outcome = await healLaunch(HOOK, 0, world.ports, DEFAULT_POLICY);
    expect(outcome).toMatchObject({ kind: "abandoned", attempts: DEFAULT_POLICY.maxAttempts });
    expect(world.elapsed()).toBe(healWorstCaseMs(DEFAULT_POLICY));
  });

  it("the group's name saves the second look: one call's worst case less", async () => {
    const world = slowestWorld();
    await healLaunch(HOOK, 0, world.ports, DEFAULT_POLICY, "vpn");
    expect(world.elapsed()).toBe(healWorstCaseMs(DEFAULT_POLICY) - CALL_WORST_CASE_MS);
  });

  it("more attempts or a longer backoff raise the computed worst case by exactly what they add", () => {
    const more = { ...DEFAULT_POLICY, maxAttempts: DEFAULT_POLICY.maxAttempts + 1 };
    // An attempt: detach | associate | modify, the wait and its last poll, attach; between two: heartbeat, look.
    const added = 5 * CALL_WORST_CASE_MS + DEFAULT_POLICY.detachWaitSeconds * 1000 + DEFAULT_POLICY.backoffMs * 2 ** (DEFAULT_POLICY.maxAttempts - 1);
    expect(healWorstCaseMs(more) - healWorstCaseMs(DEFAULT_POLICY)).toBe(added);
  });

  it("one call's budget is every try timing out plus the SDK's standard backoff between tries", () => {
    // Standard retry mode: delay before retry n ≤ 2^n × 100 ms (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
    const { maxAttempts, connectionTimeoutMs, requestTimeoutMs } = CALL_LIMITS;
    expect(CALL_WORST_CASE_MS).toBe(maxAttempts * (connectionTimeoutMs + requestTimeoutMs) + 200 + 400);
  });

  it("fits a Lambda's 15-minute maximum, and the hook waits at least as long as the Lambda may run plus delivery", () => {
    // Lambda timeouts go up to 900 s (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html);
    // a lifecycle hook's HeartbeatTimeout is 30–7200 s (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html).
    expect(HEAL_TIMEOUT_SECONDS * 1000).toBeGreaterThanOrEqual(healWorstCaseMs(DEFAULT_POLICY));
    expect(HEAL_TIMEOUT_SECONDS).toBeLessThanOrEqual(900);
    expect(LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS).toBeGreaterThan(HEAL_TIMEOUT_SECONDS);
    expect(LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS).toBeLessThanOrEqual(7200);
  });
});

describe("README.md and docs/heal.md", () => {
  it.each(["../../README.md", "../../docs/heal.md"])("%s states the heal timeout and the hook's heartbeat timeout the code computes", async (path) => {
    const { readFile } = await import("node:fs/promises");
    const doc = (await readFile(new URL(path, import.meta.url), "utf8")).replace(/\s+/g, " ");
    expect(doc).toContain(`The heal Lambda's timeout (${HEAL_TIMEOUT_SECONDS} s) and the launch hook's heartbeat timeout (${LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS} s)`);
  });
});
