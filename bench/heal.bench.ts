// Instance heal: from the launch lifecycle event to CompleteLifecycleAction, with the EC2 and Auto Scaling
// APIs answered in-process, without and with 50 ms of latency per call. Prints handler time and API calls.
import { performance } from "node:perf_hooks";
import { readFile } from "node:fs/promises";
import type { Context } from "aws-lambda";
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

async function scenario(latencyMs: number, attachedToDeadInstance: boolean) {
  const times: number[] = [];
  let calls: Record<string, number> = {};
  for (let run = 0; run < 5; run++) {
    const ec2 = new FakeEc2();
    const aws = new FakeAws();
    ec2.latencyMs = latencyMs;
    aws.jitterMs = 0;
    ec2.instances.set("i-0b1c2d3e4f5a6b7c8", { az: "us-east-1a", service: "vpn", lifecycle: "Pending:Wait" });
    ec2.instances.set("i-0dead000000000000", { az: "us-east-1a", service: "vpn", lifecycle: "Terminating" });
    ec2.addEni("eni-0123456789abcdef0", "vpn", "us-east-1a", attachedToDeadInstance ? "i-0dead000000000000" : undefined);
    ec2.addresses.set("eipalloc-0a1b2c3d4e5f60718", { service: "vpn" });
    const start = performance.now();
    const outcome = await handler(event, context);
    times.push(performance.now() - start);
    if (outcome.kind !== "continued") throw new Error(`expected the launch to continue, got ${JSON.stringify(outcome)}`);
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
  report(`instance heal, ${attachedToDeadInstance ? "ENI still on the dead instance" : "clean launch"}, ${latencyMs} ms per API call`, [
    { name: "launch event → CompleteLifecycleAction", value: times[Math.floor(times.length / 2)]!, unit: "ms" },
    { name: "API calls", value: total, unit: "" },
    ...Object.entries(calls).sort().map(([api, count]) => ({ name: `calls ${api}`, value: count, unit: "" })),
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}

await scenario(0, false);
await scenario(50, false);
await scenario(0, true);
await scenario(50, true);
