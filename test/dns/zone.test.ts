// Reading names from the hosted zone: the target list per routing policy, split horizon, CNAME and alias
// walks, and which source answered. Pure core and the zone-aware client over in-memory ports.
import { describe, expect, it } from "vitest";
import { memoryDnsPorts } from "../../functions/dns/memory.ts";
import type { DnsClient, Observation } from "../../functions/dns/resolve.ts";
import { syncDns } from "../../functions/dns/sync.ts";
import {
  chooseRecordSets, normalizeName, union, zoneAwareClient, zoneFor, type HostedZone, type ZonePort, type ZoneRecordSet,
} from "../../functions/dns/zone.ts";

const a = (name: string, values: string[], extra: Partial<ZoneRecordSet> = {}): ZoneRecordSet =>
  ({ Name: `${name}.`, Type: "A", TTL: 300, ResourceRecords: values.map((Value) => ({ Value })), ...extra });

describe("the target list per routing policy", () => {
  it("simple: every value, with the record's TTL", () => {
    expect(chooseRecordSets([a("db.corp.test", ["10.0.0.1", "10.0.0.2"])], 4, "eu-west-1")).toEqual({
      kind: "leaves", leaves: [{ kind: "addresses", addresses: ["10.0.0.1", "10.0.0.2"], ttlSeconds: 300 }],
    });
  });

  // Route 53 Developer Guide, "Weighted routing": weight 0 stops traffic to a record; if every record in the
  // group has weight 0, traffic goes to all of them with equal probability.
  it("weighted: the union of the non-zero weights; all of them when every weight is zero", () => {
    const sets = [
      a("db.corp.test", ["10.0.0.1"], { SetIdentifier: "blue", Weight: 200 }),
      a("db.corp.test", ["10.0.0.2"], { SetIdentifier: "green", Weight: 0 }),
      a("db.corp.test", ["10.0.0.3"], { SetIdentifier: "canary", Weight: 1 }),
    ];
    const addresses = (sets: ZoneRecordSet[]) => {
      const choice = chooseRecordSets(sets, 4, undefined);
      return choice.kind === "leaves" ? choice.leaves.flatMap((l) => (l.kind === "addresses" ? l.addresses : [])) : choice.kind;
    };
    expect(addresses(sets)).toEqual(["10.0.0.1", "10.0.0.3"]);
    expect(addresses(sets.map((s) => ({ ...s, Weight: 0 })))).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  it("multivalue answer: every set", () => {
    const sets = [1, 2, 3].map((i) => a("db.corp.test", [`10.0.0.${i}`], { SetIdentifier: `v${i}`, MultiValueAnswer: true, HealthCheckId: `hc-${i}` }));
    const choice = chooseRecordSets(sets, 4, undefined);
    expect(choice.kind === "leaves" && choice.leaves.length).toBe(3);
  });

  // Route 53 Developer Guide, "Failover routing" / "How health checks work in simple and complex configurations":
  // a primary without a health check is always considered healthy; a checked one is answered by its health.
  it("failover: the primary when it has no health check; the resolver decides when it has one", () => {
    const primary = a("db.corp.test", ["10.0.0.1"], { SetIdentifier: "p", Failover: "PRIMARY" });
    const secondary = a("db.corp.test", ["10.9.0.1"], { SetIdentifier: "s", Failover: "SECONDARY" });
    expect(chooseRecordSets([primary, secondary], 4, undefined)).toEqual({
      kind: "leaves", leaves: [{ kind: "addresses", addresses: ["10.0.0.1"], ttlSeconds: 300 }],
    });
    expect(chooseRecordSets([{ ...primary, HealthCheckId: "hc-1" }, secondary], 4, undefined)).toEqual({ kind: "resolver", why: "failover with a health-checked primary" });
    expect(chooseRecordSets([secondary], 4, undefined)).toMatchObject({ kind: "leaves", leaves: [{ addresses: ["10.9.0.1"] }] });
  });

  it("latency: this region's set; without one, the resolver decides", () => {
    const sets = [
      a("db.corp.test", ["10.1.0.1"], { SetIdentifier: "eu", Region: "eu-west-1" }),
      a("db.corp.test", ["10.2.0.1"], { SetIdentifier: "us", Region: "us-east-1" }),
    ];
    expect(chooseRecordSets(sets, 4, "us-east-1")).toMatchObject({ kind: "leaves", leaves: [{ addresses: ["10.2.0.1"] }] });
    expect(chooseRecordSets(sets, 4, "ap-south-1")).toMatchObject({ kind: "resolver" });
  });

  it("geolocation, geoproximity and IP-based sets are left to the resolver", () => {
    expect(chooseRecordSets([a("x.corp.test", ["10.0.0.1"], { SetIdentifier: "de", GeoLocation: { CountryCode: "DE" } })], 4, undefined)).toMatchObject({ kind: "resolver", why: "geolocation records" });
    expect(chooseRecordSets([a("x.corp.test", ["10.0.0.1"], { SetIdentifier: "g", GeoProximityLocation: { AWSRegion: "eu-west-1" } })], 4, undefined)).toMatchObject({ kind: "resolver", why: "geoproximity records" });
    expect(chooseRecordSets([a("x.corp.test", ["10.0.0.1"], { SetIdentifier: "c", CidrRoutingConfig: { CollectionId: "c", LocationName: "l" } })], 4, undefined)).toMatchObject({ kind: "resolver", why: "IP-based records" });
  });

  it("a CNAME is followed and excludes other types; no record of the family is nodata; nothing at all is nxdomain", () => {
    expect(chooseRecordSets([{ Name: "db.corp.test.", Type: "CNAME", TTL: 30, ResourceRecords: [{ Value: "db.example.net." }] }], 4, undefined)).toEqual({
      kind: "leaves", leaves: [{ kind: "follow", name: "db.example.net", ttlSeconds: 30 }],
    });
    expect(chooseRecordSets([a("db.corp.test", ["10.0.0.1"])], 6, undefined)).toEqual({ kind: "nodata" });
    expect(chooseRecordSets([], 4, undefined)).toEqual({ kind: "nxdomain" });
  });

  it("an alias is followed by its target's name (an AAAA alias for family 6)", () => {
    const alias = { Name: "db.corp.test.", Type: "AAAA", AliasTarget: { HostedZoneId: "Z26RNL4JYFTOTI", DNSName: "dualstack.nlb-1.elb.eu-west-1.amazonaws.com.", EvaluateTargetHealth: false } };
    expect(chooseRecordSets([alias], 6, undefined)).toEqual({ kind: "leaves", leaves: [{ kind: "follow", name: "dualstack.nlb-1.elb.eu-west-1.amazonaws.com" }] });
  });
});

describe("names", () => {
  // Route 53 API Reference, ListResourceRecordSets: names come back fully qualified, "*" escaped as \052.
  it("normalizes Route 53's escaped, fully qualified names", () => {
    expect(normalizeName("\\052.Corp.Test.")).toBe("*.corp.test");
  });

  // Route 53 Developer Guide, "Considerations when working with a private hosted zone": overlapping public and
  // private namespaces are answered from the most specific private zone for VPCs associated with it.
  it("split horizon: the most specific private zone, else the most specific public one", () => {
    const zones: HostedZone[] = [
      { id: "ZPUB", name: "corp.test", private: false },
      { id: "ZPUBSUB", name: "db.corp.test", private: false },
      { id: "ZPRIV", name: "corp.test", private: true },
    ];
    expect(zoneFor("db.corp.test", zones)?.id).toBe("ZPRIV");
    expect(zoneFor("db.corp.test", zones.filter((z) => !z.private))?.id).toBe("ZPUBSUB");
    expect(zoneFor("corp.test.example", zones)).toBeUndefined();
    expect(zoneFor("xcorp.test", zones)).toBeUndefined();
  });

  it("a union of branches fails as a whole when one branch fails, and is nxdomain only when all are", () => {
    const answer = (addresses: string[], ttlSeconds: number): Observation => ({ kind: "answer", addresses, ttlSeconds });
    expect(union([answer(["10.0.0.2"], 60), answer(["10.0.0.1", "10.0.0.2"], 30), { kind: "nodata" }])).toEqual(answer(["10.0.0.1", "10.0.0.2"], 30));
    expect(union([answer(["10.0.0.1"], 60), { kind: "failure", reason: "timeout", detail: "t" }])).toMatchObject({ kind: "failure" });
    expect(union([{ kind: "nxdomain" }, { kind: "nxdomain" }])).toEqual({ kind: "nxdomain" });
    expect(union([{ kind: "nxdomain" }, { kind: "nodata" }])).toEqual({ kind: "nodata" });
  });
});

describe("the zone-aware client", () => {
  const zones: HostedZone[] = [{ id: "ZCORP", name: "corp.test", private: true }];
  function world(records: ZoneRecordSet[], dns: Record<string, Observation> = {}) {
    const reads: string[] = [];
    const asked: string[] = [];
    const port: ZonePort = {
      ids: ["ZCORP"],
      hostedZones: async () => zones,
      recordSets: async (zoneId, name) => (reads.push(`${zoneId} ${name}`), records.filter((r) => normalizeName(r.Name!) === name)),
    };
    const resolver: DnsClient = { lookup: async (name) => (asked.push(name), dns[name] ?? { kind: "nxdomain" }) };
    return { client: zoneAwareClient({ zones, port, resolver, region: "eu-west-1" }), reads, asked };
  }

  it("reads a name in a watched zone from the zone and never asks the resolver", async () => {
    const { client, asked } = world([a("db.corp.test", ["10.0.0.9"], { TTL: 300 })], { "db.corp.test": { kind: "answer", addresses: ["10.0.0.1"], ttlSeconds: 300 } });
    expect(await client.lookup("db.corp.test", 4)).toEqual({ source: "zone", zone: "ZCORP", observation: { kind: "answer", addresses: ["10.0.0.9"], ttlSeconds: 300 } });
    expect(asked).toEqual([]);
  });

  it("asks the resolver for names outside every watched zone", async () => {
    const { client, reads } = world([], { "db.example.net": { kind: "answer", addresses: ["192.0.2.1"], ttlSeconds: 60 } });
    expect(await client.lookup("db.example.net", 4)).toEqual({ source: "resolver", observation: { kind: "answer", addresses: ["192.0.2.1"], ttlSeconds: 60 } });
    expect(reads).toEqual([]);
  });

  it("follows CNAMEs and aliases inside the zone, and out of it through the resolver, with the shortest TTL", async () => {
    const { client, asked } = world([
      { Name: "db.corp.test.", Type: "CNAME", TTL: 120, ResourceRecords: [{ Value: "db-blue.corp.test" }] },
      { Name: "db-blue.corp.test.", Type: "A", AliasTarget: { HostedZoneId: "ZCORP", DNSName: "pool.corp.test.", EvaluateTargetHealth: false } },
      { Name: "pool.corp.test.", Type: "CNAME", TTL: 300, ResourceRecords: [{ Value: "pool.example.net." }] },
    ], { "pool.example.net": { kind: "answer", addresses: ["10.8.0.1"], ttlSeconds: 600 } });
    expect(await client.lookup("db.corp.test", 4)).toMatchObject({ source: "zone", observation: { kind: "answer", addresses: ["10.8.0.1"], ttlSeconds: 120 } });
    expect(asked).toEqual(["pool.example.net"]);
  });

  it("matches a wildcard when the exact name holds nothing", async () => {
    const { client, reads } = world([a("\\052.corp.test", ["10.0.0.7"])]);
    expect(await client.lookup("x.y.corp.test", 4)).toMatchObject({ source: "zone", observation: { addresses: ["10.0.0.7"] } });
    expect(reads).toEqual(["ZCORP x.y.corp.test", "ZCORP *.y.corp.test", "ZCORP *.corp.test"]);
  });

  it("a name a private zone does not hold is nxdomain, as the VPC resolver answers it", async () => {
    const { client, asked } = world([]);
    expect(await client.lookup("gone.corp.test", 4)).toEqual({ source: "zone", zone: "ZCORP", observation: { kind: "nxdomain" } });
    expect(asked).toEqual([]);
  });

  it("leaves a policy the zone cannot settle to the resolver, and says why", async () => {
    const { client } = world([a("geo.corp.test", ["10.0.0.1"], { SetIdentifier: "de", GeoLocation: { CountryCode: "DE" } })], {
      "geo.corp.test": { kind: "answer", addresses: ["10.0.0.1"], ttlSeconds: 60 },
    });
    expect(await client.lookup("geo.corp.test", 4)).toEqual({ source: "resolver", why: "geolocation records", observation: { kind: "answer", addresses: ["10.0.0.1"], ttlSeconds: 60 } });
  });

  it("a CNAME loop in the zone is a failure after a bounded number of hops, not an endless walk", async () => {
    const { client, reads } = world([
      { Name: "a.corp.test.", Type: "CNAME", TTL: 60, ResourceRecords: [{ Value: "b.corp.test" }] },
      { Name: "b.corp.test.", Type: "CNAME", TTL: 60, ResourceRecords: [{ Value: "a.corp.test" }] },
    ]);
    expect(await client.lookup("a.corp.test", 4)).toMatchObject({ source: "zone", observation: { kind: "failure", reason: "bad-response" } });
    expect(reads.length).toBeLessThanOrEqual(10);
  });

  it("a zone read that fails is a failure (the last known good stands), throttling named as such", async () => {
    const port: ZonePort = {
      ids: ["ZCORP"], hostedZones: async () => zones,
      recordSets: async () => { throw Object.assign(new Error("Rate exceeded"), { name: "Throttling" }); },
    };
    const client = zoneAwareClient({ zones, port, resolver: { lookup: async () => ({ kind: "nxdomain" }) } });
    expect(await client.lookup("db.corp.test", 4)).toEqual({
      source: "zone", zone: "ZCORP", observation: { kind: "failure", reason: "throttled", detail: "Throttling: Rate exceeded" },
    });
  });
});

describe("a run on a change event", () => {
  const fleetYaml = `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - { name: pg, port: 5432, backends: [{ host: db.corp.test, port: 5432 }, { host: cache.corp.test, port: 6379 }] }
`;
  it("reads a name whose last answer came through the changed name (its CNAME target), and the new answer reaches the document", async () => {
    let pool = ["10.0.0.1"];
    const records = () => [
      { Name: "db.corp.test.", Type: "CNAME", TTL: 300, ResourceRecords: [{ Value: "pool.corp.test" }] },
      a("pool.corp.test", pool),
      a("cache.corp.test", ["10.0.9.9"]),
    ];
    const zones: HostedZone[] = [{ id: "ZCORP", name: "corp.test", private: true }];
    const stale: DnsClient = { lookup: async () => ({ kind: "answer", addresses: ["10.0.0.1"], ttlSeconds: 300 }) };
    const ports = {
      ...memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml } }, () => stale),
      zones: { ids: ["ZCORP"], hostedZones: async () => zones, recordSets: async (_: string, name: string) => records().filter((r) => normalizeName(r.Name ?? "") === name) } satisfies ZonePort,
    };
    await syncDns({ scope: "due" }, ports, { now: 1_000 });
    pool = ["10.0.0.2"];
    const report = await syncDns({ scope: "names", names: ["pool.corp.test."] }, ports, { now: 2_000 });
    expect(report.looked.map((r) => [r.record, r.source, r.answer])).toEqual([["db.corp.test/A", "zone", ["10.0.0.2"]]]);
    expect(JSON.parse(ports.documents.documents.get("router")!.body).targets["db.corp.test"]).toEqual(["10.0.0.1", "10.0.0.2"]);
  });
});
