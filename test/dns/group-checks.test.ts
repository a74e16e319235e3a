// Which target groups a run describes: a group whose desired targets are those it last converged to is
// skipped until its full check is due, and a full check repairs drift made by someone else. Through the
// real handler, the real SDK clients (aws-sdk-client-mock answering with an in-memory AWS) and a real DNS
// server on loopback; and the rule itself as a table.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { DescribeTargetHealthCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetCommand, PutCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import type { TargetGroupModel } from "../../functions/fleet/load.ts";
import {
  desiredDigest, desiredDigestOf, desiredTargets, groupCheck, limitFullChecks, othersRegistered, planAgainst, planFromMark, plannableFromMark,
} from "../../functions/plan/target-groups.ts";
import { memoryDnsPorts } from "../../functions/dns/memory.ts";
import { FULL_CHECK_MS, syncDns } from "../../functions/dns/sync.ts";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.ts";
import { FakeAws } from "../support/fake-aws.ts";

const ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/onprem-db/0123456789abcdef";
const OTHER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/onprem-ldap/0123456789abcdee";

describe("groupCheck (the rule)", () => {
  const group: TargetGroupModel = { name: "g", arn: ARN, port: 443, targets: ["app.test", "10.0.0.5"], ipAddressType: "ipv4", adoptExisting: false };
  const desired = (addresses: string[]) => desiredTargets(group, (name) => (name === "app.test" ? addresses : []));
  const digest = desiredDigest(group, desired(["10.0.0.1", "10.0.0.2"]));

  it("a digest is the desired set's, whatever the order the addresses come in, and the group's registration settings", () => {
    expect(desiredDigest(group, desired(["10.0.0.2", "10.0.0.1"]))).toBe(digest);
    expect(desiredDigest(group, desired(["10.0.0.1"]))).not.toBe(digest);
    expect(desiredDigest({ ...group, adoptExisting: true }, desired(["10.0.0.1", "10.0.0.2"]))).not.toBe(digest);
    expect(desiredDigest({ ...group, availabilityZone: "all" }, desired(["10.0.0.1", "10.0.0.2"]))).not.toBe(digest);
    expect(desiredDigest({ ...group, port: 8443 }, desiredTargets({ ...group, port: 8443 }, () => ["10.0.0.1", "10.0.0.2"]))).not.toBe(digest);
  });

  it("a digest is the one stored marks hold (header, then each sorted key and a newline), with or without building the targets", () => {
    const asStored = (g: TargetGroupModel, keys: string[]) => {
      const hash = createHash("sha256").update(`${g.arn}\n${g.availabilityZone ?? ""}\n${g.adoptExisting}\n`);
      for (const key of [...keys].sort()) hash.update(key).update("\n");
      return hash.digest("base64url");
    };
    const address = fc.oneof(fc.integer({ min: 0, max: 40 }).map((n) => `10.0.0.${n}`), fc.constantFrom("8.8.8.8", "fd00::1", "2001:db8::1", "10.0.0.01"));
    fc.assert(fc.property(fc.array(address, { maxLength: 12 }), fc.boolean(), fc.constantFrom<"ipv4" | "ipv6">("ipv4", "ipv6"), (answer, adoptExisting, ipAddressType) => {
      const g: TargetGroupModel = { ...group, adoptExisting, ipAddressType };
      const wanted = desiredTargets(g, () => answer);
      const stored = asStored(g, [...wanted.targets.keys()]);
      expect(desiredDigest(g, wanted)).toBe(stored);
      expect(desiredDigestOf(g, () => answer)).toEqual({ digest: stored, skipped: wanted.skipped });
    }), { numRuns: 300 });
  });

  it("changed desired targets (or none converged yet) → changed; the same → skip until the full check; then full", () => {
    const at = 1_000_000;
    expect(groupCheck(ARN, digest, undefined, undefined, at, FULL_CHECK_MS)).toBe("changed");
    expect(groupCheck(ARN, digest, { digest: "other", at }, undefined, at, FULL_CHECK_MS)).toBe("changed");
    expect(groupCheck(ARN, digest, { digest, at }, undefined, at + 60_000, FULL_CHECK_MS)).toBe("skip");
    expect(groupCheck(ARN, digest, { digest, at }, undefined, at + FULL_CHECK_MS, FULL_CHECK_MS)).toBe("full");
    // A describe by this environment since the converge restarts the period.
    expect(groupCheck(ARN, digest, { digest, at }, at + FULL_CHECK_MS - 1, at + FULL_CHECK_MS, FULL_CHECK_MS)).toBe("skip");
  });

  it("every group is fully checked within the period, and groups converged together come due at different times", () => {
    const dueAfter = (arn: string) => {
      for (let minutes = 0; ; minutes++) if (groupCheck(arn, digest, { digest, at: 0 }, undefined, minutes * 60_000, FULL_CHECK_MS) === "full") return minutes;
    };
    const arns = Array.from({ length: 200 }, (_, i) => `${ARN.slice(0, -4)}${i.toString(16).padStart(4, "0")}`);
    const due = arns.map(dueAfter);
    expect(Math.max(...due)).toBeLessThanOrEqual(FULL_CHECK_MS / 60_000);
    expect(Math.min(...due)).toBeGreaterThanOrEqual(FULL_CHECK_MS / 60_000 / 2);
    expect(new Set(due).size).toBeGreaterThan(5);
  });
});

describe("planning a changed group from its mark (the rule)", () => {
  const at = 1_000_000;
  const mark = { digest: "d", at, describedAt: at, othersRegistered: 0 };

  it("only a mark that counted nobody else's targets at a describe, with the group's full check not due", () => {
    expect(plannableFromMark(ARN, mark, undefined, at + 60_000, FULL_CHECK_MS)).toBe(true);
    expect(plannableFromMark(ARN, undefined, undefined, at + 60_000, FULL_CHECK_MS)).toBe(false);
    expect(plannableFromMark(ARN, { ...mark, othersRegistered: 1 }, undefined, at + 60_000, FULL_CHECK_MS)).toBe(false);
    expect(plannableFromMark(ARN, { digest: "d", at }, undefined, at + 60_000, FULL_CHECK_MS)).toBe(false); // written before describedAt
    expect(plannableFromMark(ARN, mark, undefined, at + FULL_CHECK_MS, FULL_CHECK_MS)).toBe(false); // due: describe
    // A converge planned from the mark moves `at`, not `describedAt`: the full check stays due on time.
    expect(plannableFromMark(ARN, { ...mark, at: at + FULL_CHECK_MS - 1 }, undefined, at + FULL_CHECK_MS, FULL_CHECK_MS)).toBe(false);
    expect(groupCheck(ARN, "d", { ...mark, at: at + FULL_CHECK_MS - 1 }, undefined, at + FULL_CHECK_MS, FULL_CHECK_MS)).toBe("full");
  });

  it("plans exactly as a describe finding the owned targets registered would (IPv6 keys, adoptExisting, any sets)", () => {
    const asRegistered = (owned: readonly string[]) => owned.map((key) => ({ id: key.slice(0, key.lastIndexOf(":")), port: Number(key.slice(key.lastIndexOf(":") + 1)) }));
    const address = fc.oneof(fc.integer({ min: 1, max: 12 }).map((n) => `10.0.0.${n}`), fc.integer({ min: 1, max: 12 }).map((n) => `fd00::${n.toString(16)}`));
    fc.assert(fc.property(
      fc.uniqueArray(address, { maxLength: 8 }), fc.uniqueArray(address, { maxLength: 8 }), fc.boolean(), fc.constantFrom<"ipv4" | "ipv6">("ipv4", "ipv6"),
      (answer, ownedAddresses, adoptExisting, ipAddressType) => {
        const group: TargetGroupModel = { name: "g", arn: ARN, port: 443, targets: ["app.test"], ipAddressType, adoptExisting };
        const wanted = desiredTargets(group, () => answer);
        const owned = ownedAddresses.map((a) => `${a}:443`).sort();
        expect(planFromMark(group, wanted, owned)).toEqual(planAgainst(group, wanted, { registered: asRegistered(owned), owned }));
      },
    ), { numRuns: 300 });
    expect(planFromMark({ name: "g", arn: ARN, port: 443, targets: [], ipAddressType: "ipv6", adoptExisting: false }, { targets: new Map(), skipped: [] }, ["fd00::1:443"]).deregister)
      .toEqual([{ id: "fd00::1", port: 443 }]);
  });

  it("counts what stays registered and unowned", () => {
    const registered = [{ id: "10.0.0.1", port: 443 }, { id: "10.0.0.2", port: 443 }, { id: "10.0.0.9", port: 443 }];
    expect(othersRegistered(registered, { owned: ["10.0.0.1:443"], deregister: [{ id: "10.0.0.2", port: 443 }] })).toBe(1);
    expect(othersRegistered(registered, { owned: ["10.0.0.1:443", "10.0.0.2:443", "10.0.0.9:443"], deregister: [] })).toBe(0);
  });

  it("a group whose mark another run erased between this run's read and its lease is described", async () => {
    const fleetYaml = `version: 1\ntargetGroups:\n  g: { arn: ${ARN}, port: 443, targets: [app.test] }
services:
  router:
    kind: haproxy
    listeners: [{ name: a, port: 443, backends: [{ host: 10.0.0.1, port: 443 }] }]
`;
    let answer = ["10.0.0.1"];
    const ports = memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml } }, () => ({ lookup: async () => ({ kind: "answer" as const, addresses: answer, ttlSeconds: 60 }) }));
    await syncDns({ scope: "due" }, ports, { now: 0 });
    const describe = vi.spyOn(ports.targetGroups, "describe");
    // After this run read the ownership and before it takes the lease, another run claims a target (a claim
    // carries no mark), registers it and dies before its mark: only a describe knows what is registered now.
    const leaseAndClaim = ports.ownership.leaseAndClaim.bind(ports.ownership);
    ports.ownership.leaseAndClaim = async (...args) => {
      const current = await ports.ownership.load(ARN);
      await ports.ownership.save(ARN, { targets: [...current.value.targets, "10.0.0.7:443"] }, current.version);
      await ports.targetGroups.register(ARN, [{ id: "10.0.0.7", port: 443 }]);
      ports.ownership.leaseAndClaim = leaseAndClaim;
      const outcome = await leaseAndClaim(...args);
      expect(outcome).toBe("changed"); // nothing written: the run takes the lease and reads again
      return outcome;
    };
    answer = ["10.0.0.1", "10.0.0.2"];
    const report = await syncDns({ scope: "due" }, ports, { now: 61_000 });
    expect(describe).toHaveBeenCalledWith(ARN);
    expect(report.targetGroups[0]).toMatchObject({ check: "changed", register: [{ id: "10.0.0.2", port: 443 }], deregister: [{ id: "10.0.0.7", port: 443 }] });
    expect(report.targetGroups[0]!.fromMark).toBeUndefined();

    // Left converged by that describe: the next change is planned from the mark again.
    describe.mockClear();
    answer = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
    const next = await syncDns({ scope: "due" }, ports, { now: 122_000 });
    expect(describe).not.toHaveBeenCalled();
    expect(next.targetGroups[0]).toMatchObject({ check: "changed", fromMark: true, register: [{ id: "10.0.0.3", port: 443 }], deregister: [] });
    expect([...ports.targetGroups.registered.get(ARN)!.keys()].sort()).toEqual(["10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443"]);
  });
});

describe("full checks per run", () => {
  it("keeps the most overdue, defers the rest, and leaves other checks as they are", () => {
    const checks = [
      { check: "full" as const, overdueMs: 5 }, { check: "changed" as const, overdueMs: 0 }, { check: "full" as const, overdueMs: 50 },
      { check: "skip" as const, overdueMs: 0 }, { check: "full" as const, overdueMs: 20 },
    ];
    expect(limitFullChecks(checks, 2)).toEqual(["deferred", "changed", "full", "skip", "full"]);
    expect(limitFullChecks(checks, 0)).toEqual(["deferred", "changed", "deferred", "skip", "deferred"]);
    expect(limitFullChecks(checks, 10)).toEqual(checks.map((c) => c.check));
  });

  it("a deferred group is checked by a later run: every group within ⌈groups / max⌉ runs once due", async () => {
    const arns = [0, 1, 2].map((g) => `${ARN.slice(0, -1)}${g}`);
    const fleetYaml = `version: 1\ntargetGroups:\n${arns.map((arn, g) => `  g${g}: { arn: ${arn}, port: 443, targets: [10.0.${g}.1] }`).join("\n")}
services:
  router:
    kind: haproxy
    listeners: [{ name: a, port: 443, backends: [{ host: 10.0.0.1, port: 443 }] }]
`;
    const ports = memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml } }, () => ({ lookup: async () => ({ kind: "nxdomain" }) }));
    await syncDns({ scope: "due" }, ports, { now: 0 });
    for (const arn of arns) ports.targetGroups.registered.get(arn)!.clear(); // someone else empties every group
    const checked: string[][] = [];
    for (let run = 1; run <= 3; run++) {
      const report = await syncDns({ scope: "due" }, ports, { now: FULL_CHECK_MS + run * 60_000, maxFullChecks: 1 });
      checked.push(report.targetGroups.filter((g) => g.check === "full").map((g) => g.group));
      expect(report.targetGroups.filter((g) => g.check === "deferred")).toHaveLength(3 - run);
    }
    expect(checked.flat().sort()).toEqual(["g0", "g1", "g2"]);
    for (const [g, arn] of arns.entries()) expect([...ports.targetGroups.registered.get(arn)!.keys()]).toEqual([`10.0.${g}.1:443`]);
  });
});

describe("through the handler", () => {
  const EVENTS = resolve(import.meta.dirname, "../../events");
  const context = {
    functionName: "dns-sync", functionVersion: "1", invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:dns-sync",
    memoryLimitInMB: "512", awsRequestId: "req-1", logGroupName: "/aws/lambda/dns-sync", logStreamName: "s", callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  } as unknown as Context;
  type Summary = { groups: { skipped: number; changed: number; changedFromMark: number; fullChecks: number; driftRepaired: number; fullChecksDeferred: number } };
  type Handler = (event: unknown, context: Context) => Promise<Summary>;

  let server: TestDnsServer;
  let aws: FakeAws;
  let handler: Handler;
  const scheduled = async () => JSON.parse(await readFile(`${EVENTS}/scheduled-event.json`, "utf8"));
  const coldStart = async () => {
    vi.resetModules(); // a fresh module: a new execution environment with empty memory
    return (await import("../../functions/dns-sync.ts")).handler as unknown as Handler;
  };
  const describes = () => aws.elb.commandCalls(DescribeTargetHealthCommand).length;
  const mark = (arn: string) => aws.items.get(`owner#${arn}|targets`)?.converged as Record<string, number> | undefined;
  let converged: number;
  const later = (ms: number) => vi.setSystemTime(Date.now() + ms);

  beforeAll(async () => {
    server = await startDnsServer();
    Object.assign(process.env, {
      CONFIG_BUCKET: "config-bucket", STATE_TABLE: "state", AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
      POWERTOOLS_LOG_LEVEL: "WARN", POWERTOOLS_TRACE_ENABLED: "false", POWERTOOLS_METRICS_DISABLED: "true",
    });
  });
  afterAll(async () => server?.close());
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    aws = new FakeAws();
    server.set("db1.corp.test", { addresses: ["10.50.0.11", "10.50.0.12"], ttl: 60 });
    server.set("ldap.corp.test", { addresses: ["10.50.1.11"], ttl: 60 });
    const fleetYaml = `version: 1
dns: { resolvers: ["${server.address}"], timeout: 300ms }
targetGroups:
  onprem-db: { arn: ${ARN}, port: 5432, targets: [db1.corp.test] }
  onprem-ldap: { arn: ${OTHER}, port: 636, targets: [ldap.corp.test] }
services:
  router:
    kind: haproxy
    listeners:
      - { name: pg, port: 5432, backends: [{ host: 10.50.0.20, port: 5432 }] }
`;
    aws.objects.set("accepted/current.json", { body: JSON.stringify({ commit: "abc123", files: { "fleet.yaml": fleetYaml } }), metadata: {} });
    handler = await coldStart();
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 0, changed: 2, changedFromMark: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    converged = Date.now();
    expect(mark(ARN)).toEqual({ digest: expect.any(String), at: converged, describedAt: converged, othersRegistered: 0 });
    aws.resetHistory();
  });
  afterEach(() => {
    aws.restore();
    vi.useRealTimers();
  });

  it("a run whose names answer as before describes no group and writes nothing, warm or after a cold start", async () => {
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, changedFromMark: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    handler = await coldStart();
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, changedFromMark: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(describes()).toBe(0);
    expect(aws.writes()).toEqual({});
  });

  it("a name whose answer changed converges its group only, and the next run skips it again", async () => {
    server.set("db1.corp.test", { addresses: ["10.50.0.11", "10.50.0.12", "10.50.0.13"], ttl: 60 });
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 1, changed: 1, changedFromMark: 1, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.13:5432"]);
    // Planned from the mark the first converge left (it described the group and found nobody else's targets):
    // no describe, the new target registered alone, and the mark keeps when the group was last described.
    expect(describes()).toBe(0);
    expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: ARN, Targets: [{ Id: "10.50.0.13", Port: 5432 }] });
    expect(mark(ARN)).toMatchObject({ at: Date.now(), describedAt: converged, othersRegistered: 0 });
    // Leased and claimed in one transaction on what the run had read: no lease Put, no read under the lease.
    expect(aws.dynamo).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(aws.dynamo).not.toHaveReceivedCommand(GetCommand);
    expect(aws.dynamo.commandCalls(PutCommand).map((call) => String(call.args[0].input.Item?.pk))).toEqual([expect.stringMatching(/^dns#/), `owner#${ARN}`]);
    aws.resetHistory();
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, changedFromMark: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(describes()).toBe(0);
  });

  it("a target someone else deregistered out of band is registered again by the group's full check, and counted", async () => {
    aws.group(ARN).delete("10.50.0.12:5432");
    later(61_000);
    await handler(await scheduled(), context); // unchanged desired targets: not described yet
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432"]);

    later(FULL_CHECK_MS);
    const summary = await handler(await scheduled(), context);
    expect(summary.groups).toEqual({ skipped: 0, changed: 0, changedFromMark: 0, fullChecks: 2, driftRepaired: 1, fullChecksDeferred: 0 });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432"]);
    expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: ARN, Targets: [{ Id: "10.50.0.12", Port: 5432 }] });
    expect(aws.duplicateRegistrations).toEqual([]);

    // The check that found nothing wrote nothing, and this environment does not check again before the period.
    aws.resetHistory();
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, changedFromMark: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(aws.writes()).toEqual({});
  });

  it("a full check that finds the group as converged writes nothing", async () => {
    later(FULL_CHECK_MS);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 0, changed: 0, changedFromMark: 0, fullChecks: 2, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(describes()).toBe(2);
    expect(aws.writes()).toEqual({});
  });

  it("a changed group whose full check is due is described, and its mark records the describe", async () => {
    server.set("db1.corp.test", { addresses: ["10.50.0.11", "10.50.0.12", "10.50.0.13"], ttl: 60 });
    aws.group(ARN).delete("10.50.0.12:5432"); // someone else's drift: only a describe finds it
    later(FULL_CHECK_MS);
    expect((await handler(await scheduled(), context)).groups).toMatchObject({ changed: 1, changedFromMark: 0, fullChecks: 1 });
    expect(aws.elb).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: ARN });
    expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: ARN, Targets: [{ Id: "10.50.0.12", Port: 5432 }, { Id: "10.50.0.13", Port: 5432 }] });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.13:5432"]);
    expect(mark(ARN)).toMatchObject({ at: Date.now(), describedAt: Date.now(), othersRegistered: 0 });
  });

  it("a group holding someone else's target is described on every change; a full check that finds one newly there rewrites the mark", async () => {
    aws.group(OTHER).set("10.50.1.99:636", { Id: "10.50.1.99", Port: 636 }); // registered by someone else after the converge
    later(FULL_CHECK_MS);
    expect((await handler(await scheduled(), context)).groups).toMatchObject({ fullChecks: 2, driftRepaired: 0 });
    expect(mark(OTHER)).toMatchObject({ describedAt: Date.now(), othersRegistered: 1 });
    expect(aws.registered(OTHER)).toContain("10.50.1.99:636"); // left alone: not ours
    aws.resetHistory();

    // The name now answers with that address as well: planned from a describe, the target is not claimed.
    server.set("ldap.corp.test", { addresses: ["10.50.1.11", "10.50.1.99"], ttl: 60 });
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toMatchObject({ changed: 1, changedFromMark: 0 });
    expect(aws.elb).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: OTHER });
    expect(aws.elb).not.toHaveReceivedCommand(RegisterTargetsCommand);
    expect(aws.items.get(`owner#${OTHER}|targets`)?.targets).toEqual(["10.50.1.11:636"]);
  });

  it("a mark written before converges could skip the describe (no describedAt) is described on change, then carries one", async () => {
    const item = aws.items.get(`owner#${ARN}|targets`)!;
    item.converged = { digest: (item.converged as { digest: string }).digest, at: converged };
    server.set("db1.corp.test", { addresses: ["10.50.0.11"], ttl: 60 });
    later(61_000);
    await handler(await scheduled(), context);
    later(61_000);
    await handler(await scheduled(), context);
    later(61_000);
    const summary = await handler(await scheduled(), context); // the third miss removes 10.50.0.12
    expect(summary.groups).toMatchObject({ changed: 1, changedFromMark: 0 });
    expect(aws.elb).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: ARN });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432"]);
    expect(mark(ARN)).toMatchObject({ describedAt: Date.now(), othersRegistered: 0 });
  });
});
