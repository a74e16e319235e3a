// A DNS-loop world of any size for benchmarks: N hostnames, 100 per NLB target group, 5 private addresses
// each (5 N targets), and the scenarios a run meets: nothing changed, every group due for its full
// check (a run takes the most overdue 100), and 1% of the names drifting (one per group: half gain an address, half lose one for good).
// Every address is checked to be one (a fixture that builds "10.256.0.1" would silently skip targets).
import { isIpAddress } from "../functions/fleet/net.ts";
import type { DnsClient, Observation } from "../functions/dns/resolve.ts";

export const HOSTS_PER_GROUP = 100;
export const ADDRESSES_PER_HOST = 5;
/** Each host owns 8 consecutive addresses of 10.0.0.0/8 (its 5, the one drift adds, room to spare). */
const ADDRESS_SLOTS = 8;
const MAX_HOSTS = 2 ** 24 / ADDRESS_SLOTS - 1;
export const PORT = 443;
/** The drift scenario's new address for a gaining host. */
export const GAINED = ADDRESSES_PER_HOST;
/** The address a losing host's answer no longer has (its third miss is due this run). */
export const LOST = ADDRESSES_PER_HOST - 1;

export type Scenario = "no change" | "full check" | "1% drift";
export const SCENARIOS: readonly Scenario[] = ["no change", "full check", "1% drift"];

export const hostName = (i: number) => `h${i % HOSTS_PER_GROUP}.g${Math.floor(i / HOSTS_PER_GROUP)}.corp.test`;
export const groupName = (g: number) => `g${g}`;
export const groupArn = (g: number) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g${g}/${g.toString(16).padStart(16, "0")}`;
export const groupCount = (hosts: number) => Math.ceil(hosts / HOSTS_PER_GROUP);

/** Throws, naming the fixture and the rule, unless `address` is an IP address. */
export function checkedAddress(address: string, what: string): string {
  if (!isIpAddress(address)) throw new Error(`bench/dns-fixture.ts: ${what}: "${address}" is not an IP address (every fixture address must be one)`);
  return address;
}

/** Address `slot` (0..6) of host `i`, inside 10.0.0.0/8, never .0. */
export function hostAddress(i: number, slot: number): string {
  if (!Number.isInteger(i) || i < 0 || i > MAX_HOSTS) throw new Error(`bench/dns-fixture.ts: host ${i}: the fixture holds hosts 0..${MAX_HOSTS}`);
  if (!Number.isInteger(slot) || slot < 0 || slot >= ADDRESS_SLOTS - 1) throw new Error(`bench/dns-fixture.ts: host ${i}: address slot ${slot} is not in 0..${ADDRESS_SLOTS - 2}`);
  const n = i * ADDRESS_SLOTS + slot + 1;
  return checkedAddress(`10.${n >>> 16}.${(n >>> 8) & 255}.${n & 255}`, `host ${i} address ${slot}`);
}

/** Which way a host drifts in the drift scenario: the middle host of each group, alternately gaining and losing. */
export function driftOf(i: number, scenario: Scenario): "gain" | "lose" | undefined {
  if (scenario !== "1% drift" || i % HOSTS_PER_GROUP !== HOSTS_PER_GROUP / 2) return undefined;
  return Math.floor(i / HOSTS_PER_GROUP) % 2 === 0 ? "gain" : "lose";
}

/** The address slots a host's state holds before the run (a losing host still holds the one it lost). */
export const storedSlots = (): number[] => Array.from({ length: ADDRESSES_PER_HOST }, (_, a) => a);

/** The address slots DNS answers for a host during the run. */
export function answeredSlots(i: number, scenario: Scenario): number[] {
  const drift = driftOf(i, scenario);
  if (drift === "gain") return [...storedSlots(), GAINED];
  if (drift === "lose") return storedSlots().filter((a) => a !== LOST);
  return storedSlots();
}

/** The runtime document's names: the router service's backends. */
export const ROUTER_HOSTS = 10;

export function fleetYaml(hosts: number): string {
  const lines = ["version: 1", 'dns: { resolvers: ["127.0.0.1:53"] }', "targetGroups:"];
  for (let g = 0; g < groupCount(hosts); g++) {
    const names: string[] = [];
    for (let i = g * HOSTS_PER_GROUP; i < Math.min(hosts, (g + 1) * HOSTS_PER_GROUP); i++) names.push(hostName(i));
    lines.push(`  ${groupName(g)}:`, `    arn: ${groupArn(g)}`, `    port: ${PORT}`, `    targets: [${names.join(", ")}]`);
  }
  const backends = Array.from({ length: Math.min(ROUTER_HOSTS, hosts) }, (_, i) => `{ host: ${hostName(i)}, port: 443 }`);
  lines.push("services:", "  router:", "    kind: haproxy", `    listeners: [{ name: a, port: 443, backends: [${backends.join(", ")}] }]`);
  return lines.join("\n") + "\n";
}

/** The host index of a fixture name, or undefined. */
export function hostIndex(name: string): number | undefined {
  const match = /^h(\d+)\.g(\d+)\.corp\.test$/.exec(name);
  return match ? Number(match[2]) * HOSTS_PER_GROUP + Number(match[1]) : undefined;
}

/** Answers computed from the name (no table held in memory): the benchmark measures the loop, not DNS. */
export function fixtureDns(hosts: number, scenario: Scenario): DnsClient {
  return {
    async lookup(name): Promise<Observation> {
      const i = hostIndex(name);
      if (i === undefined || i >= hosts) return { kind: "nxdomain" };
      return { kind: "answer", addresses: answeredSlots(i, scenario).map((a) => hostAddress(i, a)), ttlSeconds: 60 };
    },
  };
}
