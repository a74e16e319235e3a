// A Route 53 change event → the RegisterTargets call that puts the new address in the NLB target group, with
// every AWS API call (S3, DynamoDB, ELB, Route 53) taking 50 ms. The name lives in a watched hosted zone
// whose record has TTL 300: the resolver would keep the old answer for up to five minutes. Prints the median
// and max time from the event to RegisterTargets, the run's total time, and the API calls per event by kind.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { memoryDnsPorts } from "../functions/dns/memory.ts";
import type { DnsClient } from "../functions/dns/resolve.ts";
import { syncDns, type SyncPorts } from "../functions/dns/sync.ts";
import type { HostedZone, ZonePort, ZoneRecordSet } from "../functions/dns/zone.ts";
import { report } from "./measure.ts";

const API_MS = 50;
const EVENTS = 25;
const ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/onprem-db/0123456789abcdef";
const ZONE: HostedZone = { id: "Z0EXAMPLE1ABCDEF", name: "corp.example.com", private: true };
const fleetYaml = `version: 1
targetGroups:
  onprem-db: { arn: ${ARN}, port: 5432, targets: [db1.corp.example.com], availabilityZone: all }
services:
  router:
    kind: haproxy
    listeners:
      - { name: pg, port: 5432, backends: [{ host: db1.corp.example.com, port: 5432 }] }
`;

const calls: Record<string, number> = {};
let registeredAt: number | undefined;
/** Every method of a port becomes one API call: counted, and 50 ms long. */
function slow<T extends object>(port: T, names: Record<string, string>): T {
  for (const [method, api] of Object.entries(names)) {
    const original = (port as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!.bind(port);
    (port as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      calls[api] = (calls[api] ?? 0) + 1;
      await sleep(API_MS);
      const result = await original(...args);
      if (api === "ELB RegisterTargets") registeredAt ??= performance.now();
      return result;
    };
  }
  return port;
}

let zoneAddresses = ["10.50.0.10"];
const zoneApi: ZonePort = slow({
  ids: [ZONE.id],
  hostedZones: async () => [ZONE],
  recordSets: async (_zoneId: string, name: string): Promise<ZoneRecordSet[]> =>
    name === "db1.corp.example.com" ? [{ Name: `${name}.`, Type: "A", TTL: 300, ResourceRecords: zoneAddresses.map((Value) => ({ Value })) }] : [],
}, { hostedZones: "Route53 GetHostedZone", recordSets: "Route53 ListResourceRecordSets" });
// As functions/aws/route53.ts does: the zone details are read once per execution environment.
let zoneDetails: Promise<readonly HostedZone[]> | undefined;
const zone: ZonePort = { ...zoneApi, hostedZones: () => (zoneDetails ??= zoneApi.hostedZones()) };
const staleResolver: DnsClient = { lookup: async () => ({ kind: "answer", addresses: ["10.50.0.10"], ttlSeconds: 300 }) };

const memory = memoryDnsPorts({ commit: "bench", files: { "fleet.yaml": fleetYaml } }, () => staleResolver);
const ports: SyncPorts = {
  ...memory,
  config: slow(memory.config, { load: "S3 GetObject (accepted config)" }),
  state: slow(memory.state, { load: "DynamoDB BatchGetItem", save: "DynamoDB PutItem (state)" }),
  ownership: slow(memory.ownership, {
    load: "DynamoDB GetItem (ownership)", loadMany: "DynamoDB BatchGetItem (ownership)", save: "DynamoDB PutItem (ownership)",
    leaseAndClaim: "DynamoDB TransactWriteItems (lease + ownership)",
  }),
  targetGroups: slow(memory.targetGroups, { describe: "ELB DescribeTargetHealth", register: "ELB RegisterTargets", deregister: "ELB DeregisterTargets" }),
  documents: slow(memory.documents, { storedHash: "S3 HeadObject (document)", put: "S3 PutObject (document)" }),
  leases: slow(memory.leases, { acquire: "DynamoDB PutItem (lease)", release: "DynamoDB DeleteItem (lease)" }),
  zones: zone,
  region: "eu-west-1",
};

const change = { scope: "names", names: ["db1.corp.example.com."] } as const;
let now = Date.parse("2026-11-26T12:00:00Z");
await syncDns({ scope: "due" }, ports, { now }); // converged on the first address; the zone details are read once

const toRegister: number[] = [];
const runs: number[] = [];
for (const key of Object.keys(calls)) delete calls[key];
for (let i = 1; i <= EVENTS; i++) {
  zoneAddresses = [`10.50.${i}.10`, ...zoneAddresses]; // one new address per change; the old ones age out by misses
  now += 61_000;
  registeredAt = undefined;
  const start = performance.now();
  const result = await syncDns(change, ports, { now });
  runs.push(performance.now() - start);
  if (registeredAt === undefined || !result.targetGroups[0]!.register.some((t) => t.id === `10.50.${i}.10`)) throw new Error(`event ${i} did not register 10.50.${i}.10`);
  toRegister.push(registeredAt - start);
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const median = (values: number[]) => sorted(values)[Math.floor(values.length / 2)]!;
report(`Route 53 change event → RegisterTargets, ${API_MS} ms per API call, ${EVENTS} events (record TTL 300 s)`, [
  { name: "event → RegisterTargets median", value: median(toRegister), unit: "ms" },
  { name: "event → RegisterTargets max", value: Math.max(...toRegister), unit: "ms" },
  { name: "whole run median", value: median(runs), unit: "ms" },
  { name: "API calls per event", value: Object.values(calls).reduce((n, c) => n + c, 0) / EVENTS, unit: "" },
  ...Object.entries(calls).sort().map(([api, count]) => ({ name: `  ${api}`, value: count / EVENTS, unit: "per event" })),
]);
