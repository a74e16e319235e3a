// Instance heal: from the launch lifecycle event to CompleteLifecycleAction, with the EC2 and Auto Scaling APIs
// answered in-process at a fixed latency per call. Prints the sequential round trips (rounds of calls sent
// together, counted by the fake, plus the lease), the calls, the handler's time, and the wall time modelled from
// the rounds and the detach polls, before (8 round trips one call after another, the SDK waiter's delays) and now.
import { performance } from "node:perf_hooks";
import { readFile } from "node:fs/promises";
import type { Context } from "aws-lambda";
import { DETACH_POLL_DELAYS_MS } from "../functions/heal/heal.ts";
import { FakeAws } from "../test/support/fake-aws.ts";
import { FakeEc2 } from "../test/support/fake-ec2.ts";
import { peakRssMiB, report } from "./measure.ts";

Object.assign(process.env, {
  STATE_TABLE: "state", PROXY_FLEET_STAGE: "test", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench",
  POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR", POWERTOOLS_TRACE_ENABLED: "false",
});
const event = JSON.parse(await readFile(new URL("../events/ec2-instance-launch-lifecycle-action.json", import.meta.url), "utf8"));
const { handler } = (await import("../functions/instance-heal.ts")) as unknown as { handler: (e: unknown, c: Context) => Promise<{ kind: string }> };
const context = { functionName: "instance-heal", awsRequestId: "bench", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** The fake's detaching ENI reads "in-use" for two polls after the detach, "available" on the third. */
const POLLS_UNTIL_AVAILABLE = 3;
/**
 * Before: every call one after another — describe instance, look (3 concurrent reads), lease, look again, then per
 * action (attach, associate, modify) and CompleteLifecycleAction: 8 round trips; with the ENI on a dead instance
 * also the detach and the SDK waiter's polls: the first at once, then after a delay drawn between minDelay (1 s)
 * and min(minDelay·2^(n−1), maxDelay 5 s), mean shown (@smithy/util-waiter exponentialBackoffWithJitter).
 */
const BEFORE_ROUNDS = { clean: 8, dead: 8 + 1 + POLLS_UNTIL_AVAILABLE };
const BEFORE_WAITER_SLEEPS_MS = [0, 1_000, 1_500];

async function scenario(latencyMs: number, attachedToDeadInstance: boolean) {
  const times: number[] = [];
  let calls: Record<string, number> = {};
  let rounds = 0;
  for (let run = 0; run < 5; run++) {
    const ec2 = new FakeEc2();
    const aws = new FakeAws();
    ec2.latencyMs = latencyMs;
    aws.jitterMs = 0;
    ec2.instances.set(event.detail.EC2InstanceId, { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Pending:Wait" });
    ec2.instances.set("i-0dead000000000000", { az: "us-east-1a", service: "datacenter-vpn", lifecycle: "Terminating" });
    ec2.addEni("eni-0123456789abcdef0", "datacenter-vpn", "us-east-1a", attachedToDeadInstance ? "i-0dead000000000000" : undefined);
    ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "datacenter-vpn" });
    const start = performance.now();
    const outcome = await handler(event, context);
    times.push(performance.now() - start);
    if (outcome.kind !== "continued") throw new Error(`expected the launch to continue, got ${JSON.stringify(outcome)}`);
    // EC2 / Auto Scaling rounds up to the hook, plus the lease's acquire (DynamoDB, in-process here) before them.
    rounds = ec2.roundOf("CompleteLifecycleAction") + 1;
    calls = {};
    for (const mock of [ec2.ec2, ec2.asg, aws.dynamo]) {
      for (const call of mock.calls()) {
        const name = (call.args[0] as object).constructor.name.replace(/Command$/, "");
        calls[name] = (calls[name] ?? 0) + 1;
      }
    }
    ec2.restore();
    aws.restore();
  }
  times.sort((a, b) => a - b);
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const sleptNow = attachedToDeadInstance ? DETACH_POLL_DELAYS_MS.slice(0, POLLS_UNTIL_AVAILABLE).reduce((a, b) => a + b, 0) : 0;
  const sleptBefore = attachedToDeadInstance ? BEFORE_WAITER_SLEEPS_MS.reduce((a, b) => a + b, 0) : 0;
  const before = attachedToDeadInstance ? BEFORE_ROUNDS.dead : BEFORE_ROUNDS.clean;
  report(`instance heal, ${attachedToDeadInstance ? "ENI still on the dead instance" : "clean launch"}, ${latencyMs} ms per API call`, [
    { name: "launch event → CompleteLifecycleAction (measured)", value: times[Math.floor(times.length / 2)]!, unit: "ms" },
    { name: "round trips to CompleteLifecycleAction, before", value: before, unit: "" },
    { name: "round trips to CompleteLifecycleAction, now", value: rounds, unit: "" },
    { name: "modelled wall (round trips × latency + poll sleeps), before", value: before * latencyMs + sleptBefore, unit: "ms" },
    { name: "modelled wall (round trips × latency + poll sleeps), now", value: rounds * latencyMs + sleptNow, unit: "ms" },
    { name: "API calls", value: total, unit: "" },
    ...Object.entries(calls).sort().map(([api, count]) => ({ name: `calls ${api}`, value: count, unit: "" })),
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}

await scenario(50, false);
await scenario(150, false);
await scenario(50, true);
await scenario(150, true);
