// Config rollout for a fleet of 50 services where one (then five) change: from the CodeCommit event into the
// handler to UpdateService out, with the AWS API answered in-process. Prints handler time, calls by kind, and
// the run's sequential round trips: every call is given a modelled latency, and the wall time it adds,
// divided by that latency, is how many calls had to wait for one another.
import { performance } from "node:perf_hooks";
import type { Context } from "aws-lambda";
import { CodeCommitClient } from "@aws-sdk/client-codecommit";
import { ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { FakeAws } from "../test/support/fake-aws.ts";
import { FakeEcs, FakeRepository } from "../test/support/fake-repo.ts";
import { peakRssMiB, report } from "./measure.ts";

const SERVICES = 50;
const RUNS = 5;
/** A modelled per-call latency: long enough that the handler's own work (tens of ms) cannot blur the count. */
const MODELLED_LATENCY_MS = 250;
const names = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
const ports = names.map((_, i) => 10000 + i);
const fleet = () => `version: 1\nservices:\n${names.map((name, i) =>
  `  ${name}:\n    kind: haproxy\n    listeners: [{ name: l, port: ${ports[i]}, backends: [{ host: 10.1.${i}.1, port: 443 }] }]`).join("\n")}\n`;

const aws = new FakeAws();
const repo = new FakeRepository("proxy-fleet-config");
const ecs = new FakeEcs();
for (const name of names) ecs.addService("proxy-fleet", name, "proxy");
const mocks = [aws.s3, aws.dynamo, aws.events, repo.client, ecs.client];

// Every mocked call waits `latency` first, as a network round trip would.
let latency = 0;
/** When the last UpdateService of the run was answered. */
let lastUpdateAt = 0;
for (const client of [S3Client, DynamoDBDocumentClient, EventBridgeClient, CodeCommitClient, ECSClient]) {
  const prototype = client.prototype as unknown as { send: (...args: unknown[]) => Promise<unknown> };
  const answer = prototype.send;
  prototype.send = async function (this: unknown, ...args: unknown[]) {
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    const answered = await answer.apply(this, args);
    if (args[0] instanceof UpdateServiceCommand) lastUpdateAt = performance.now();
    return answered;
  };
}

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

let generation = 0;
/** One push changing `changed` services, rolled out with every call taking `latencyMs`. */
async function push(changed: number, latencyMs: number) {
  generation++;
  for (let i = 0; i < changed; i++) ports[(generation * changed + i) % SERVICES] = 20000 + generation * SERVICES + i;
  const commit = repo.commit("main", { "fleet.yaml": fleet() });
  for (const mock of mocks) mock.resetHistory();
  latency = latencyMs;
  const start = performance.now();
  const result = await handler(event(commit), context);
  const ms = performance.now() - start;
  const toUpdate = lastUpdateAt - start;
  latency = 0;
  if (result.deployments?.length !== changed) throw new Error(`expected ${changed} deployments, got ${JSON.stringify(result)}`);
  const calls: Record<string, number> = {};
  for (const mock of mocks) {
    for (const call of mock.calls()) {
      const name = (call.args[0] as object).constructor.name.replace(/Command$/, "");
      calls[name] = (calls[name] ?? 0) + 1;
    }
  }
  return { ms, toUpdate, calls };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const changed of [1, 5]) {
  const times: number[] = [];
  const untilUpdate: number[] = [];
  let calls: Record<string, number> = {};
  for (let run = 0; run < RUNS; run++) ({ ms: times[run], toUpdate: untilUpdate[run], calls } = await push(changed, 0));
  const modelled = await push(changed, MODELLED_LATENCY_MS);
  // Less the handler's own work (the unhurried runs' median), what is left is waiting.
  const roundTrips = Math.round((modelled.ms - median(times)) / MODELLED_LATENCY_MS);
  const toUpdate = Math.round((modelled.toUpdate - median(untilUpdate)) / MODELLED_LATENCY_MS);
  report(`config rollout, ${SERVICES} services, ${changed} changed: CodeCommit event → UpdateService`, [
    { name: "handler time (median)", value: median(times), unit: "ms" },
    { name: "handler time (max)", value: Math.max(...times), unit: "ms" },
    { name: "calls (all)", value: Object.values(calls).reduce((a, b) => a + b, 0), unit: "" },
    ...Object.entries(calls).sort().map(([api, count]) => ({ name: `calls ${api}`, value: count, unit: "" })),
    { name: "sequential round trips to the last UpdateService", value: toUpdate, unit: "" },
    { name: "sequential round trips (whole run)", value: roundTrips, unit: "" },
    { name: `handler time at ${MODELLED_LATENCY_MS} ms a call`, value: modelled.ms, unit: "ms" },
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}
