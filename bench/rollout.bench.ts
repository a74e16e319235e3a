// Config rollout for a fleet of 50 services where one changes: from the CodeCommit event into the handler
// to UpdateService out, with the AWS API answered in-process. Prints handler time and calls by kind.
import { performance } from "node:perf_hooks";
import type { Context } from "aws-lambda";
import { FakeAws } from "../test/support/fake-aws.ts";
import { FakeEcs, FakeRepository } from "../test/support/fake-repo.ts";
import { peakRssMiB, report } from "./measure.ts";

const SERVICES = 50;
const RUNS = 7;
const names = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
const ports = names.map((_, i) => 10000 + i);
const fleet = () => `version: 1\nservices:\n${names.map((name, i) =>
  `  ${name}:\n    kind: haproxy\n    listeners: [{ name: l, port: ${ports[i]}, backends: [{ host: 10.1.${i}.1, port: 443 }] }]`).join("\n")}\n`;

const aws = new FakeAws();
const repo = new FakeRepository("proxy-fleet-config");
const ecs = new FakeEcs();
for (const name of names) ecs.addService("proxy-fleet", name, "proxy");
Object.assign(process.env, {
  CONFIG_REPOSITORY: "proxy-fleet-config", CONFIG_BRANCH: "main", CONFIG_BUCKET: "config", STATE_TABLE: "state",
  ECS_SERVICES: JSON.stringify(Object.fromEntries(names.map((name) => [name, { cluster: "proxy-fleet", service: name, container: "proxy" }]))),
  AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench",
  POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR", POWERTOOLS_TRACE_ENABLED: "false",
});
const { handler } = (await import("../functions/config-rollout.ts")) as unknown as {
  handler: (event: unknown, context: Context) => Promise<{ deployments?: unknown[] }>;
};
const context = { functionName: "config-rollout", awsRequestId: "bench", getRemainingTimeInMillis: () => 300_000 } as unknown as Context;
const event = (commitId: string) => ({
  version: "0", id: "bench", "detail-type": "CodeCommit Repository State Change", source: "aws.codecommit", account: "123456789012",
  time: "2026-11-25T00:00:00Z", region: "us-east-1", resources: [],
  detail: { event: "referenceUpdated", repositoryName: "proxy-fleet-config", referenceType: "branch", referenceName: "main", commitId },
});

await handler(event(repo.commit("main", { "fleet.yaml": fleet() })), context); // everything deployed once

const times: number[] = [];
let calls: Record<string, number> = {};
for (let run = 1; run <= RUNS; run++) {
  ports[run % SERVICES] = 20000 + run; // one service changes
  const commit = repo.commit("main", { "fleet.yaml": fleet() });
  for (const mock of [aws.s3, aws.dynamo, aws.events, repo.client, ecs.client]) mock.resetHistory();
  const start = performance.now();
  const result = await handler(event(commit), context);
  times.push(performance.now() - start);
  if (result.deployments?.length !== 1) throw new Error(`expected one deployment, got ${JSON.stringify(result)}`);
  calls = {};
  for (const mock of [aws.s3, aws.dynamo, aws.events, repo.client, ecs.client]) {
    for (const call of mock.calls()) {
      const name = (call.args[0] as object).constructor.name.replace(/Command$/, "");
      calls[name] = (calls[name] ?? 0) + 1;
    }
  }
}
times.sort((a, b) => a - b);
report(`config rollout, ${SERVICES} services, one changed: CodeCommit event → UpdateService`, [
  { name: "handler time (median)", value: times[Math.floor(times.length / 2)]!, unit: "ms" },
  { name: "handler time (max)", value: times.at(-1)!, unit: "ms" },
  ...Object.entries(calls).sort().map(([api, count]) => ({ name: `calls ${api}`, value: count, unit: "" })),
  { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
]);
