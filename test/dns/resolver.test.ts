// The DNS loop against a real DNS server on loopback whose answers change: the exact targets kept in
// every case (TTL expiry, >8 records, truncation, timeout, SERVFAIL, NXDOMAIN flaps, empty answers,
// a shrink beyond the guard), through the real resolver and the real loop, on in-memory stores.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { memoryDnsPorts } from "../../functions/dns/memory.ts";
import { createDnsClient } from "../../functions/dns/resolve.ts";
import { syncDns, type SyncReport, type SyncRequest } from "../../functions/dns/sync.ts";
import { durationMs } from "../../functions/fleet/duration.ts";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.ts";

let server: TestDnsServer;
beforeAll(async () => (server = await startDnsServer()));
afterAll(async () => server?.close());

const HOSTS = ["db.corp.test", "cache.corp.test", "wide.corp.test"];

function fleetYaml(resolver: string) {
  return `version: 1
dns: { resolvers: ["${resolver}"], removeAfterMisses: 3, maxShrinkPercent: 50, minTtl: 30s, maxTtl: 1h, timeout: 300ms }
services:
  router:
    kind: haproxy
    listeners:
${HOSTS.map((host, i) => `      - { name: l${i}, port: ${7000 + i}, backends: [{ host: ${host}, port: 5432 }] }`).join("\n")}
`;
}

let ports: ReturnType<typeof memoryPorts>;
let now: number;

function memoryPorts() {
  return memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml(server.address) } },
    () => createDnsClient({ servers: [server.address], timeoutMs: durationMs("300ms"), tries: 1 }));
}

beforeEach(() => {
  ports = memoryPorts();
  now = Date.parse("2026-11-25T12:00:00Z");
  for (const host of HOSTS) server.set(host, { addresses: ["10.0.0.1"] });
});

/** One run after `advanceMs`; returns the report and the targets each host has now. */
async function run(advanceMs = 61_000, request: SyncRequest = { scope: "due" }): Promise<{ report: SyncReport; targets: Record<string, string[]> }> {
  now += advanceMs;
  const report = await syncDns(request, ports, { now });
  const document = ports.documents.documents.get("router");
  const targets = document ? (JSON.parse(document.body) as { targets: Record<string, string[]> }).targets : {};
  return { report, targets };
}

const range = (n: number, base = "10.1.0.") => Array.from({ length: n }, (_, i) => `${base}${i + 1}`);
const sorted = (list: string[]) => [...list].sort();

describe("answers", () => {
  it("keeps every record of a large answer (no 8-record cap)", async () => {
    server.set("wide.corp.test", { addresses: range(20) });
    const { targets } = await run(0);
    expect(targets["wide.corp.test"]).toEqual(sorted(range(20)));
  });

  it("follows a truncated UDP answer over TCP", async () => {
    server.set("wide.corp.test", { addresses: range(40), truncateOverUdp: true });
    const tcpBefore = server.queries.tcp;
    const { targets } = await run(0);
    expect(targets["wide.corp.test"]).toEqual(sorted(range(40)));
    expect(server.queries.tcp).toBeGreaterThan(tcpBefore);
  });

  it("honours TTLs: looks again only once the TTL has expired, never sooner than minTtl", async () => {
    server.set("db.corp.test", { addresses: ["10.0.0.1"], ttl: 120 });
    server.set("cache.corp.test", { addresses: ["10.0.0.2"], ttl: 1 });
    await run(0);
    server.set("db.corp.test", { addresses: ["10.0.0.9"], ttl: 120 });
    server.set("cache.corp.test", { addresses: ["10.0.0.8"], ttl: 1 });

    let { report, targets } = await run(20_000); // both still fresh (1 s TTL is raised to the 30 s floor)
    expect(report.looked.map((r) => r.record)).toEqual([]);
    expect(targets["db.corp.test"]).toEqual(["10.0.0.1"]);

    ({ report, targets } = await run(15_000)); // 35 s: only the floored record is due
    expect(report.looked.map((r) => r.record)).toEqual(["cache.corp.test/A"]);
    expect(targets["cache.corp.test"]).toEqual(["10.0.0.2", "10.0.0.8"]);
    expect(targets["db.corp.test"]).toEqual(["10.0.0.1"]);

    ({ report, targets } = await run(90_000)); // 125 s: the 120 s TTL has expired too
    expect(report.looked.map((r) => r.record)).toContain("db.corp.test/A");
    expect(targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.9"]);
  });

  it("re-resolves only the names under a Route 53 change, whatever their TTL", async () => {
    await run(0);
    const { report } = await run(1_000, { scope: "names", names: ["corp.test."] });
    expect(report.looked.map((r) => r.record).sort()).toEqual(HOSTS.map((h) => `${h}/A`).sort());
    const { report: narrow } = await run(1_000, { scope: "names", names: ["db.corp.test."] });
    expect(narrow.looked.map((r) => r.record)).toEqual(["db.corp.test/A"]);
  });
});

describe("removal hysteresis", () => {
  it("removes an address only after three answers in a row without it", async () => {
    server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.2", "10.0.0.3"] });
    await run(0);
    server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.2"] });
    expect((await run()).targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    expect((await run()).targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    const third = await run();
    expect(third.targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(third.report.looked.find((r) => r.record === "db.corp.test/A")?.removed).toEqual(["10.0.0.3"]);
  });

  it("adds a new address at once", async () => {
    await run(0);
    server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.7"] });
    expect((await run()).targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.7"]);
  });

  it("treats NXDOMAIN as a miss, and a flap back resets the count", async () => {
    server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] });
    await run(0);
    server.set("db.corp.test", "nxdomain");
    await run();
    await run();
    server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] });
    await run();
    server.set("db.corp.test", "nxdomain");
    await run();
    const { targets, report } = await run();
    expect(targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    expect(report.looked.find((r) => r.record === "db.corp.test/A")?.observation).toBe("nxdomain");
  });

  it("never wipes a list on NXDOMAIN or an empty answer: the shrink guard holds it and says so", async () => {
    server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.2"] });
    server.set("cache.corp.test", { addresses: ["10.0.0.5"] });
    await run(0);
    server.set("db.corp.test", "nxdomain");
    server.set("cache.corp.test", "empty");
    for (let i = 0; i < 5; i++) {
      const { targets, report } = await run();
      expect(targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2"]);
      expect(targets["cache.corp.test"]).toEqual(["10.0.0.5"]);
      const held = Object.fromEntries(report.looked.map((r) => [r.record, r.held]));
      expect(held).toEqual(i >= 2
        ? { "db.corp.test/A": ["10.0.0.1", "10.0.0.2"], "cache.corp.test/A": ["10.0.0.5"], "wide.corp.test/A": [] }
        : { "db.corp.test/A": [], "cache.corp.test/A": [], "wide.corp.test/A": [] });
    }
  });

  it("holds a shrink beyond the guard, and lets a smaller one through", async () => {
    server.set("wide.corp.test", { addresses: range(10) });
    await run(0);
    server.set("wide.corp.test", { addresses: range(2) }); // would remove 80%
    for (let i = 0; i < 4; i++) expect((await run()).targets["wide.corp.test"]).toEqual(sorted(range(10)));
    server.set("wide.corp.test", { addresses: range(6) }); // 40% of the list: allowed after the hysteresis
    let last = await run();
    for (let i = 0; i < 2; i++) last = await run();
    expect(last.targets["wide.corp.test"]).toEqual(sorted(range(6)));
  });
});

describe("failures keep the last known good", () => {
  for (const failure of ["timeout", "servfail", "refused"] as const) {
    it(`${failure}: the previous targets stay, the failure is reported, other names still update`, async () => {
      server.set("db.corp.test", { addresses: ["10.0.0.1", "10.0.0.2"] });
      await run(0);
      server.set("db.corp.test", failure);
      server.set("cache.corp.test", { addresses: ["10.0.0.1", "10.0.0.6"] });
      for (let i = 0; i < 4; i++) {
        const { targets, report } = await run();
        expect(targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2"]);
        expect(targets["cache.corp.test"]).toEqual(["10.0.0.1", "10.0.0.6"]);
        const looked = report.looked.find((r) => r.record === "db.corp.test/A")!;
        expect(looked.observation).toBe("failure");
        expect(looked.failure).toMatch(failure === "timeout" ? /^timeout/ : failure === "servfail" ? /^servfail/ : /^refused/);
      }
    });
  }

  it("a truncated answer whose TCP retry fails keeps the last known good", async () => {
    server.set("db.corp.test", { addresses: ["10.0.0.1"] });
    await run(0);
    server.set("db.corp.test", { addresses: ["10.0.0.9"], truncateOverUdp: true, tcpNeverAnswers: true });
    const { targets, report } = await run();
    expect(targets["db.corp.test"]).toEqual(["10.0.0.1"]);
    expect(report.looked.find((r) => r.record === "db.corp.test/A")?.observation).toBe("failure");
  });
});
