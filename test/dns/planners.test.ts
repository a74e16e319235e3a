// The DNS loop's pure parts: the tracker's table, the target-group planner's table, documents, names.
import { describe, expect, it } from "vitest";
import { recordId, recordsAffectedBy, recordsInFleet, recordsInGroupOrder, serviceNames } from "../../functions/dns/names.ts";
import { NAME_FAILING_LONG_MS, track, type TrackerPolicy } from "../../functions/dns/tracker.ts";
import type { TargetGroupModel } from "../../functions/fleet/load.ts";
import { documentBody, planDocuments, runtimeDocuments } from "../../functions/plan/documents.ts";
import { batches, planTargetGroup } from "../../functions/plan/target-groups.ts";
import { loadExample } from "../support/fixtures.ts";

const policy: TrackerPolicy = { removeAfterMisses: 3, maxShrinkRatio: 0.5, missIntervalMs: 30_000, minTtlMs: 30_000, maxTtlMs: 3_600_000 };
const answer = (...addresses: string[]) => ({ kind: "answer" as const, addresses, ttlSeconds: 60 });

describe("tracker", () => {
  it("adds at once, removes after three spaced misses, and reports each step", () => {
    let step = track(undefined, answer("a", "b", "c"), policy, 0);
    expect(step).toMatchObject({ targets: ["a", "b", "c"], added: ["a", "b", "c"], changed: true, nextLookupInMs: 60_000 });
    for (const [t, expected] of [[60_000, ["a", "b", "c"]], [120_000, ["a", "b", "c"]], [180_000, ["a", "b"]]] as const) {
      step = track(step.state, answer("a", "b"), policy, t);
      expect(step.targets).toEqual(expected);
    }
    expect(step.removed).toEqual(["c"]);
  });

  it("counts misses closer together than the interval once (concurrent runs)", () => {
    let step = track(undefined, answer("a", "b"), policy, 0);
    for (const t of [40_000, 40_001, 40_002, 50_000]) step = track(step.state, answer("a"), policy, t);
    expect(step.state.misses?.b).toEqual({ missed: 1, lastMissAt: 40_000 });
  });

  it("keeps the addresses on a failure, asks again at the floor, and records only when the failing began", () => {
    const timeout = { kind: "failure" as const, reason: "timeout" as const, detail: "ETIMEOUT" };
    const first = track(undefined, answer("a"), policy, 0);
    const failed = track(first.state, timeout, policy, 99_000);
    expect(failed).toMatchObject({
      state: { addressList: first.state.addressList, failingSince: 99_000 }, changed: true, keptLastKnownGood: true, targets: ["a"], failingForMs: 0, nextLookupInMs: 30_000,
    });
    // Later failures of the same streak change nothing (no write) but say how long it has lasted.
    const again = track(failed.state, timeout, policy, 99_000 + NAME_FAILING_LONG_MS);
    expect(again).toMatchObject({ state: failed.state, changed: false, failingForMs: NAME_FAILING_LONG_MS });
    // An answer ends the streak.
    const answered = track(again.state, answer("a"), policy, 99_000 + NAME_FAILING_LONG_MS + 1);
    expect(answered).toMatchObject({ state: first.state, changed: true, failingForMs: 0 });
  });

  it("holds a removal above the shrink ratio, and clamps TTLs to [minTtl, maxTtl]", () => {
    let step = track(undefined, answer("a", "b", "c", "d"), policy, 0);
    for (let i = 1; i <= 3; i++) step = track(step.state, answer("a"), policy, i * 60_000);
    expect(step).toMatchObject({ targets: ["a", "b", "c", "d"], held: ["b", "c", "d"], removed: [] });
    expect(track(undefined, { ...answer("a"), ttlSeconds: 1 }, policy, 0).nextLookupInMs).toBe(30_000);
    expect(track(undefined, { ...answer("a"), ttlSeconds: 86_400 }, policy, 0).nextLookupInMs).toBe(3_600_000);
  });

  it("announces a held removal once: the same held set again is no change; a different held set is announced anew", () => {
    let step = track(undefined, answer("a", "b", "c", "d", "e", "f"), policy, 0);
    for (let i = 1; i <= 3; i++) step = track(step.state, answer("a"), policy, i * 60_000);
    expect(step).toMatchObject({ held: ["b", "c", "d", "e", "f"], announce: true });
    // The caller records the announcement; from then on the same hold changes nothing at all.
    const announced = { ...step.state, heldAnnounced: step.held };
    for (let i = 4; i <= 6; i++) {
      step = track(announced, answer("a"), policy, i * 60_000);
      expect(step).toMatchObject({ held: ["b", "c", "d", "e", "f"], announce: false, changed: false, state: announced });
    }
    // b comes back: what is held changes, and that is announced.
    step = track(announced, answer("a", "b"), policy, 7 * 60_000);
    expect(step).toMatchObject({ held: ["c", "d", "e", "f"], announce: true });
    // Once nothing is held any more, the record of the announcement goes too.
    step = track(step.state, answer("a", "b", "c", "d", "e", "f"), policy, 8 * 60_000);
    expect(step.held).toEqual([]);
    expect(step.state.heldAnnounced).toBeUndefined();
  });

  it("reports no change when an answer repeats", () => {
    const first = track(undefined, answer("a"), policy, 0);
    expect(track(first.state, answer("a"), policy, 60_000).changed).toBe(false);
  });
});

describe("target-group planner", () => {
  const group: TargetGroupModel = {
    name: "g", arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/0123456789abcdef", port: 443,
    targets: ["app.test", "10.0.0.5"], ipAddressType: "ipv4", adoptExisting: false,
  };
  const dns = (addresses: string[]) => (name: string) => (name === "app.test" ? addresses : []);
  const t = (id: string) => ({ id, port: 443 });

  it("registers what is missing, deregisters only what it owns, leaves others' targets alone", () => {
    const plan = planTargetGroup(group, dns(["10.0.0.1", "10.0.0.2"]), {
      registered: [t("10.0.0.2"), t("10.0.0.3"), t("10.0.0.9")],
      owned: ["10.0.0.2:443", "10.0.0.3:443"],
    });
    expect(plan.register).toEqual([t("10.0.0.1"), t("10.0.0.5")]);
    expect(plan.deregister).toEqual([t("10.0.0.3")]);
    expect(plan.owned).toEqual(["10.0.0.1:443", "10.0.0.2:443", "10.0.0.5:443"]);
  });

  it("skips public and wrong-family addresses with a reason", () => {
    const plan = planTargetGroup(group, dns(["203.0.113.7", "fd00::1", "100.64.1.1"]), { registered: [], owned: [] });
    expect(plan.register.map((x) => x.id)).toEqual(["10.0.0.5", "100.64.1.1"]);
    expect(plan.skipped.map((s) => s.address)).toEqual(["203.0.113.7", "fd00::1"]);
  });

  it("adopts registered targets DNS names only with adoptExisting, and forgets vanished owned ones", () => {
    const plan = planTargetGroup({ ...group, adoptExisting: true }, dns(["10.0.0.1"]), { registered: [t("10.0.0.1")], owned: ["10.0.0.77:443"] });
    expect(plan.register).toEqual([t("10.0.0.5")]);
    expect(plan.owned).toEqual(["10.0.0.1:443", "10.0.0.5:443"]);
  });

  it("batches", () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches([], 2)).toEqual([]);
  });
});

describe("names and documents", () => {
  it("lists the names each consumer needs", async () => {
    const model = await loadExample();
    expect(Object.fromEntries(serviceNames(model))).toEqual({
      "datacenter-vpn": ["billing.corp.example.com", "sftp.internal.example.com"],
      "lattice-ingress": [
        "api-0a1b2c3d.7d67968.vpc-lattice-svcs.us-east-1.on.aws",
        "apps-0e1f2a3b.7d67968.vpc-lattice-svcs.us-east-1.on.aws",
        "www-0c1d2e3f.7d67968.vpc-lattice-svcs.us-east-1.on.aws",
      ],
      "onprem-router": ["db1.corp.example.com", "db2.corp.example.com", "ldap.corp.example.com"],
      "partner-forward": ["files.partner.example.net"],
    });
    expect(recordsInFleet(model).map((r) => `${r.name}/${r.family}`)).toEqual([
      "api-0a1b2c3d.7d67968.vpc-lattice-svcs.us-east-1.on.aws/4", "apps-0e1f2a3b.7d67968.vpc-lattice-svcs.us-east-1.on.aws/4",
      "billing.corp.example.com/4", "db1.corp.example.com/4", "db2.corp.example.com/4", "files.partner.example.net/4",
      "ldap.corp.example.com/4", "sftp.internal.example.com/4", "www-0c1d2e3f.7d67968.vpc-lattice-svcs.us-east-1.on.aws/4",
    ]);
  });

  it("tracks the target groups' records first, group after group, then the names only services use: the same records", async () => {
    const model = await loadExample();
    const ordered = recordsInGroupOrder(model).map(recordId);
    expect([...ordered].sort()).toEqual(recordsInFleet(model).map(recordId));
    expect(ordered.slice(0, 2)).toEqual(["db1.corp.example.com/A", "db2.corp.example.com/A"]); // onprem-db's, in its order
    expect(new Set(ordered).size).toBe(ordered.length);
  });

  it("matches Route 53 record names, wildcards and parents to the names under them", async () => {
    const records = recordsInFleet(await loadExample());
    const names = (changed: string[]) => recordsAffectedBy(records, changed).map((r) => r.name);
    expect(names(["db1.corp.example.com."])).toEqual(["db1.corp.example.com"]);
    expect(names(["*.corp.example.com."])).toEqual(["billing.corp.example.com", "db1.corp.example.com", "db2.corp.example.com", "ldap.corp.example.com"]);
    expect(names(["example.org."])).toEqual([]);
  });

  it("writes a document only when its content changed", async () => {
    const model = await loadExample();
    const docs = runtimeDocuments(model, (name) => (name === "db1.corp.example.com" ? ["10.0.0.2", "10.0.0.1"] : []));
    const router = docs.find((d) => d.service === "onprem-router")!;
    expect(router.targets["db1.corp.example.com"]).toEqual(["10.0.0.1", "10.0.0.2"]);
    const stored = new Map(docs.map((d) => [d.service, documentBody(d).hash]));
    expect(planDocuments(docs, stored)).toEqual([]);
    stored.set("onprem-router", "sha256:old");
    expect(planDocuments(docs, stored).map((w) => w.service)).toEqual(["onprem-router"]);
  });
});
