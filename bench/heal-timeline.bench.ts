// The heal timeline from a strongSwan instance's loss to the tunnel being up again, per path (bench/heal-budget.ts
// HEAL_PATHS): cold launch (the fallback), the stopped pool, a running pool left to the ECS agent's own pace, and
// the fast path the stack deploys (event detection, running pool, agent restarted, image cached), for a loss EC2
// announces and for an impaired instance. The heal Lambda's own part is measured: the real handler runs against the
// in-process EC2 / Auto Scaling, which counts its sequential rounds of calls up to CompleteLifecycleAction; every
// other step is drawn from the ranges in bench/heal-budget.ts, each printed with its basis (documented, measured,
// assumed). Prints min / median / max over many simulated runs.
import { readFile } from "node:fs/promises";
import type { Context } from "aws-lambda";
import { FakeAws } from "../test/support/fake-aws.ts";
import { FakeEc2 } from "../test/support/fake-ec2.ts";
import { API_CALL_RANGE, BUDGET_STEPS, HEAL_GOAL_SECONDS, HEAL_PATHS, type HealPath } from "./heal-budget.ts";
import { report } from "./measure.ts";

Object.assign(process.env, {
  STATE_TABLE: "state", PROXY_FLEET_STAGE: "test", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench",
  POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR", POWERTOOLS_TRACE_ENABLED: "false",
});
const { handler } = (await import("../functions/instance-heal.ts")) as unknown as { handler: (e: unknown, c: Context) => Promise<{ kind: string }> };
const context = { functionName: "instance-heal", awsRequestId: "bench", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const sample = async (name: string) => JSON.parse(await readFile(new URL(`../events/${name}.json`, import.meta.url), "utf8"));

/**
 * The heal handler's sequential rounds of calls for one launch event, up to CompleteLifecycleAction: the in-process
 * EC2 / Auto Scaling counts the rounds (calls sent together are one), plus the lease's acquire (DynamoDB). The dead
 * instance's ENI was already given back by the termination sweep, as it is by the time a replacement launches.
 */
async function roundTrips(event: { detail: { EC2InstanceId: string } }): Promise<number> {
  const ec2 = new FakeEc2();
  const aws = new FakeAws();
  ec2.latencyMs = 5; // calls sent together overlap, so the fake sees them as one round
  aws.jitterMs = 0;
  ec2.instances.set(event.detail.EC2InstanceId, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
  ec2.addEni("eni-0123456789abcdef0", "datacenter-vpn", "us-east-1a");
  ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn", eniId: "eni-0deadbeef00000000" });
  const outcome = await handler(event, context);
  const rounds = ec2.roundOf("CompleteLifecycleAction") + LEASE_ROUND_TRIPS;
  ec2.restore();
  aws.restore();
  if (outcome.kind !== "continued") throw new Error(`expected the launch to continue, got ${JSON.stringify(outcome)}`);
  return rounds;
}
const LEASE_ROUND_TRIPS = 1;

/** Deterministic, so two runs of the bench print the same figures. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RUNS = 20_000;
/** The steps from the loss until Auto Scaling starts the replacement. */
const DETECTION_STEPS = ["detection", "event-detection", "asg-replaces"];
// A first run loads the SDK clients: not an API round trip, and the Lambda cold start is a step of its own.
await roundTrips(await sample("ec2-instance-launch-lifecycle-action"));
const rounds = { cold: await roundTrips(await sample("ec2-instance-launch-lifecycle-action")), warm: await roundTrips(await sample("autoscaling-warm-pool-leave-pool")) };

function simulate(path: HealPath) {
  const next = random(14);
  const draw = ([low, high]: readonly [number, number]) => low + (high - low) * next();
  const steps = BUDGET_STEPS.filter((s) => !s.paths || s.paths.includes(path));
  const totals: number[] = [];
  const fromReplacement: number[] = [];
  const perStep = new Map<string, number[]>();
  for (let run = 0; run < RUNS; run++) {
    const took = new Map(steps.map((s) => [s.id, draw(s.range)] as const));
    const calls = path === "cold" ? rounds.cold : rounds.warm;
    let api = 0;
    for (let i = 0; i < calls; i++) api += draw(API_CALL_RANGE);
    took.set("heal-api-calls", api);
    const heal = ["event-delivery", "lambda-cold-start", "heal-api-calls", "attachment-settles"].reduce((sum, id) => sum + (took.get(id) ?? 0), 0);
    const boot = steps.filter((s) => s.parallelWithHeal).reduce((sum, s) => sum + took.get(s.id)!, 0);
    const serial = steps.filter((s) => !s.parallelWithHeal && !["event-delivery", "lambda-cold-start", "attachment-settles"].includes(s.id))
      .reduce((sum, s) => sum + took.get(s.id)!, 0);
    const total = serial + Math.max(heal, boot);
    totals.push(total);
    fromReplacement.push(total - DETECTION_STEPS.reduce((sum, id) => sum + (took.get(id) ?? 0), 0));
    for (const [id, seconds] of took) perStep.set(id, [...(perStep.get(id) ?? []), seconds]);
  }
  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
  };
  const total = stats(totals);
  const replaced = stats(fromReplacement);
  const withinGoal = totals.filter((t) => t <= HEAL_GOAL_SECONDS).length / RUNS * 100;
  const basis = new Map(BUDGET_STEPS.map((s) => [s.id, s.basis] as const));
  report(`heal timeline, ${path} (${RUNS} simulated runs; heal Lambda: ${path === "cold" ? rounds.cold : rounds.warm} sequential API round trips, measured)`, [
    { name: "loss → tunnel up, min", value: total.min, unit: "s" },
    { name: "loss → tunnel up, median", value: total.median, unit: "s" },
    { name: "loss → tunnel up, max", value: total.max, unit: "s" },
    { name: "replacement start → tunnel, min", value: replaced.min, unit: "s" },
    { name: "replacement start → tunnel, median", value: replaced.median, unit: "s" },
    { name: "replacement start → tunnel, max", value: replaced.max, unit: "s" },
    { name: `runs within ${HEAL_GOAL_SECONDS} s of the loss`, value: withinGoal, unit: "%" },
    ...[...perStep].map(([id, values]) => ({ name: `  step ${id} (${basis.get(id) ?? "measured round trips"}), median`, value: stats(values).median, unit: "s" })),
  ]);
}

for (const path of HEAL_PATHS) simulate(path);
