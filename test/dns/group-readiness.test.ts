// A changed target group is converged as soon as every record it names is tracked, while later chunks are
// still being looked up; a failure in a later chunk still fails the run, but only after the groups already
// started have finished and released their leases. Plus the readiness bookkeeping and the limiter (functions/plan/concurrency.ts) as rules.
import { describe, expect, it, vi } from "vitest";
import type { TargetGroupModel } from "../../functions/fleet/load.ts";
import { groupReadiness } from "../../functions/dns/group-readiness.ts";
import { limiter } from "../../functions/plan/concurrency.ts";
import { memoryDnsPorts } from "../../functions/dns/memory.ts";
import type { DnsClient, Observation } from "../../functions/dns/resolve.ts";
import { syncDns } from "../../functions/dns/sync.ts";

const arn = (name: string, id: string) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/${name}/${id}`;
const FIRST = arn("first", "0123456789abcdef");
const SECOND = arn("second", "0123456789abcdee");
const names = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}${i}.corp.test`);
const fleetYaml = `version: 1
targetGroups:
  first: { arn: ${FIRST}, port: 443, targets: [${names("a").join(", ")}] }
  second: { arn: ${SECOND}, port: 443, targets: [${names("b").join(", ")}] }
services:
  router:
    kind: haproxy
    listeners: [{ name: a, port: 443, backends: [{ host: a0.corp.test, port: 443 }] }]
`;

/** Answers on a later turn of the event loop, so whatever the in-memory AWS can finish meanwhile is done first. */
function laterDns(events: string[]): DnsClient {
  return {
    async lookup(name): Promise<Observation> {
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`answered ${name}`);
      const i = Number(/(\d+)\./.exec(name)![1]);
      return { kind: "answer", addresses: [`10.${name.startsWith("a") ? 1 : 2}.0.${i}`], ttlSeconds: 60 };
    },
  };
}

function recordedPorts(events: string[]) {
  const ports = memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml } }, () => laterDns(events));
  const register = ports.targetGroups.register.bind(ports.targetGroups);
  ports.targetGroups.register = async (groupArn, targets) => {
    events.push(`register ${groupArn === FIRST ? "first" : "second"}`);
    return register(groupArn, targets);
  };
  return ports;
}

describe("converging a group while later chunks are tracked", () => {
  it("registers the first group's targets before the second group's names are all answered", async () => {
    const events: string[] = [];
    const ports = recordedPorts(events);
    // 5 records a chunk: the first group's names are the first two chunks, the second's the last two.
    const report = await syncDns({ scope: "due" }, ports, { now: 1_000, chunkSize: 5, concurrency: 4 });
    expect(events.indexOf("register first")).toBeGreaterThan(events.indexOf("answered a9.corp.test"));
    expect(events.indexOf("register first")).toBeLessThan(events.indexOf("answered b9.corp.test"));
    // Each group is converged once, to every one of its names, and reported in the config's order.
    expect(events.filter((e) => e.startsWith("register"))).toEqual(["register first", "register second"]);
    expect(report.targetGroups.map((g) => [g.group, g.check, g.register.length])).toEqual([["first", "changed", 10], ["second", "changed", 10]]);
    expect(ports.targetGroups.registered.get(FIRST)?.size).toBe(10);
    expect(ports.targetGroups.registered.get(SECOND)?.size).toBe(10);
    expect(ports.leases.leases.size).toBe(0);
    // Run again: nothing changed, nothing written.
    events.length = 0;
    const again = await syncDns({ scope: "due" }, ports, { now: 2_000, chunkSize: 5, concurrency: 4 });
    expect(events.filter((e) => e.startsWith("register"))).toEqual([]);
    expect(again.targetGroups.map((g) => g.check)).toEqual(["skip", "skip"]);
  });

  it("converges a group before the last chunk even when its names and another group's interleave in name order", async () => {
    // h0.g0, h0.g1, h1.g0, … in name order: every chunk in that order holds names of both groups, the last one too.
    const interleaved = (g: number) => Array.from({ length: 10 }, (_, i) => `h${i}.g${g}.corp.test`);
    const events: string[] = [];
    const ports = memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml.replace(names("a").join(", "), interleaved(0).join(", ")).replace(names("b").join(", "), interleaved(1).join(", ")).replace("host: a0.corp.test", "host: h0.g0.corp.test") } }, () => ({
      async lookup(name): Promise<Observation> {
        await new Promise((resolve) => setImmediate(resolve));
        events.push(`answered ${name}`);
        return { kind: "answer", addresses: [`10.${name.includes(".g0.") ? 1 : 2}.0.${/^h(\d+)\./.exec(name)![1]}`], ttlSeconds: 60 };
      },
    }));
    const register = ports.targetGroups.register.bind(ports.targetGroups);
    ports.targetGroups.register = async (groupArn, targets) => {
      events.push(`register ${groupArn === FIRST ? "first" : "second"}`);
      return register(groupArn, targets);
    };
    await syncDns({ scope: "due" }, ports, { now: 1_000, chunkSize: 5, concurrency: 4 });
    expect(events.indexOf("register first")).toBeGreaterThan(events.indexOf("answered h9.g0.corp.test"));
    expect(events.indexOf("register first")).toBeLessThan(events.indexOf("answered h9.g1.corp.test"));
    expect(ports.targetGroups.registered.get(SECOND)?.size).toBe(10);
  });

  it("a chunk that fails fails the run, after the group already converging has finished and released its lease", async () => {
    const events: string[] = [];
    const ports = recordedPorts(events);
    const load = ports.state.load.bind(ports.state);
    ports.state.load = async (ids) => {
      if (ids.some((id) => id.startsWith("b5."))) throw new Error("state table unavailable");
      return load(ids);
    };
    await expect(syncDns({ scope: "due" }, ports, { now: 1_000, chunkSize: 5, concurrency: 4 })).rejects.toThrow(/state table unavailable/);
    expect(ports.targetGroups.registered.get(FIRST)?.size).toBe(10);
    expect(ports.targetGroups.registered.has(SECOND)).toBe(false);
    expect(ports.leases.leases.size).toBe(0);
    await expect(ports.ownership.load(FIRST).then((o) => o.value.targets.length)).resolves.toBe(10);
  });
});

describe("releasing a group's lease", () => {
  it("does not hold the group's slot: the next group's chain starts before the release is answered, and the run waits for it", async () => {
    const events: string[] = [];
    const ports = recordedPorts(events);
    const release = ports.leases.release.bind(ports.leases);
    let unblock!: () => void;
    const blocked = new Promise<void>((resolve) => (unblock = resolve));
    ports.leases.release = async (resource, holder) => {
      events.push(`release ${resource === FIRST ? "first" : "second"}`);
      if (resource === FIRST) await blocked; // the first release is slow to answer
      return release(resource, holder);
    };
    let returned = false;
    const run = syncDns({ scope: "due" }, ports, { now: 1_000, chunkSize: 5, concurrency: 4, groupConcurrency: 1 }).then((report) => {
      returned = true;
      return report;
    });
    await vi.waitFor(() => expect(events).toContain("release second"));
    expect(events.indexOf("register second")).toBeGreaterThan(events.indexOf("release first"));
    expect(returned).toBe(false);
    expect(ports.leases.leases.has(FIRST)).toBe(true);
    unblock();
    await run;
    expect(ports.leases.leases.size).toBe(0);
  });

  it("a release that fails fails the run, once every other release is done", async () => {
    const ports = recordedPorts([]);
    const release = ports.leases.release.bind(ports.leases);
    ports.leases.release = async (resource, holder) => {
      if (resource === FIRST) throw new Error("state table unavailable");
      return release(resource, holder);
    };
    await expect(syncDns({ scope: "due" }, ports, { now: 1_000, chunkSize: 5, concurrency: 4 })).rejects.toThrow(/state table unavailable/);
    expect(ports.leases.leases.has(SECOND)).toBe(false);
    expect(ports.targetGroups.registered.get(FIRST)?.size).toBe(10);
  });
});

describe("groupReadiness (the rule)", () => {
  const group = (name: string, targets: string[], ipAddressType: "ipv4" | "ipv6" = "ipv4"): TargetGroupModel =>
    ({ name, arn: arn(name, "0123456789abcdef"), port: 443, targets, ipAddressType, adoptExisting: false });

  it("a group is ready once, when the last record it names is done; one that names only addresses is ready at the start", () => {
    const readiness = groupReadiness([
      group("a", ["x.test", "y.test"]),
      group("literal", ["10.0.0.1"]),
      group("shared", ["y.test", "z.test", "z.test"]),
      group("v6", ["x.test"], "ipv6"),
    ]);
    expect(readiness.readyAtStart).toEqual([1]);
    expect(readiness.done(["x.test/A", "unrelated.test/A"])).toEqual([]);
    expect(readiness.done(["y.test/A"])).toEqual([0]);
    expect(readiness.done(["y.test/A", "z.test/A"])).toEqual([2]); // y counted once
    expect(readiness.done(["x.test/AAAA"])).toEqual([3]);
    expect(readiness.done(["x.test/A", "y.test/A", "z.test/A", "x.test/AAAA"])).toEqual([]);
  });
});

describe("limiter", () => {
  it("runs at most `limit` tasks at once, in the order handed in, and frees a slot when a task fails", async () => {
    const run = limiter(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (i === 1) throw new Error("task 1 failed");
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => run(task(i))));
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : "failed"))).toEqual([0, "failed", 2, 3, 4]);
  });
});
