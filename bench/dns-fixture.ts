// A large DNS-loop world for benchmarks: 10,000 hostnames in 100 target groups, 5 addresses each
// (50,000 targets), converged, with in-memory stores that count the AWS calls each would make.
import { MemoryConfig, MemoryDnsState, MemoryDocuments, MemoryLeases, MemoryOwnership, MemoryTargetGroups } from "../functions/dns/memory.ts";
import { LookupSchedule } from "../functions/dns/ports.ts";
import type { DnsClient, Observation } from "../functions/dns/resolve.ts";
import { syncDns, type SyncPorts } from "../functions/dns/sync.ts";

export const GROUPS = 100;
export const HOSTS_PER_GROUP = 100;
export const ADDRESSES_PER_HOST = 5;

const host = (g: number, h: number) => `h${h}.g${g}.corp.test`;
const address = (g: number, h: number, a: number) => `10.${g}.${h}.${a + 1}`;
const arn = (g: number) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g${g}/${g.toString(16).padStart(16, "0")}`;

function fleetYaml(): string {
  const groups = Array.from({ length: GROUPS }, (_, g) =>
    `  g${g}:\n    arn: ${arn(g)}\n    port: 443\n    targets: [${Array.from({ length: HOSTS_PER_GROUP }, (_, h) => host(g, h)).join(", ")}]`);
  return `version: 1\ndns: { resolvers: ["127.0.0.1:53"] }\ntargetGroups:\n${groups.join("\n")}\nservices:\n  router:\n    kind: haproxy\n    listeners: [{ name: a, port: 443, backends: [{ host: 10.0.0.1, port: 443 }] }]\n`;
}

/** Answers from a table in memory: the benchmark measures planning, not the network. */
export class TableDns implements DnsClient {
  readonly answers = new Map<string, string[]>();
  async lookup(name: string): Promise<Observation> {
    const addresses = this.answers.get(name);
    return addresses ? { kind: "answer", addresses, ttlSeconds: 60 } : { kind: "nxdomain" };
  }
}

export type CallCounts = Record<string, number>;

/** Wraps each method so that every call is counted under the AWS API it stands for. */
function counting<T extends object>(target: T, calls: CallCounts, names: Record<string, (args: unknown[]) => [string, number]>): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      const name = names[String(property)];
      if (typeof value !== "function" || !name) return value;
      return (...args: unknown[]) => {
        const [api, count] = name(args);
        calls[api] = (calls[api] ?? 0) + count;
        return value.apply(object, args);
      };
    },
  });
}

export async function convergedWorld() {
  const dns = new TableDns();
  for (let g = 0; g < GROUPS; g++) {
    for (let h = 0; h < HOSTS_PER_GROUP; h++) dns.answers.set(host(g, h), Array.from({ length: ADDRESSES_PER_HOST }, (_, a) => address(g, h, a)));
  }
  const calls: CallCounts = {};
  const stores = {
    config: new MemoryConfig({ commit: "bench", files: { "fleet.yaml": fleetYaml() } }),
    state: new MemoryDnsState(),
    ownership: new MemoryOwnership(),
    targetGroups: new MemoryTargetGroups(),
    documents: new MemoryDocuments(),
  };
  const ports: SyncPorts = {
    config: stores.config,
    dns: () => dns,
    state: counting(stores.state, calls, {
      load: ([ids]) => ["BatchGetItem", Math.ceil((ids as string[]).length / 100)],
      save: () => ["PutItem", 1],
    }),
    ownership: counting(stores.ownership, calls, { load: () => ["GetItem", 1], save: () => ["PutItem", 1] }),
    targetGroups: counting(stores.targetGroups, calls, {
      describe: () => ["DescribeTargetHealth", 1],
      register: () => ["RegisterTargets", 1],
      deregister: () => ["DeregisterTargets", 1],
    }),
    documents: counting(stores.documents, calls, { storedHash: () => ["HeadObject", 1], put: () => ["PutObject", 1] }),
    leases: counting(new MemoryLeases(), calls, { acquire: () => ["PutItem", 1], release: () => ["DeleteItem", 1] }),
    schedule: new LookupSchedule(),
  };
  let now = Date.parse("2026-11-25T00:00:00Z");
  const run = async () => {
    now += 61_000;
    for (const key of Object.keys(calls)) delete calls[key];
    // Scope "names" with the parent domain: every name is looked at, as after a cold start.
    return syncDns({ scope: "names", names: ["corp.test"] }, ports, { now });
  };
  await run(); // converge
  return { dns, calls, run, host, address };
}
