// Which target groups a run describes: a group whose desired targets are those it last converged to is
// skipped until its full check is due, and a full check repairs drift made by someone else. Through the
// real handler, the real SDK clients (aws-sdk-client-mock answering with an in-memory AWS) and a real DNS
// server on loopback; and the rule itself as a table.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { DescribeTargetHealthCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import type { TargetGroupModel } from "../../functions/fleet/load.ts";
import { desiredDigest, desiredTargets, groupCheck, limitFullChecks } from "../../functions/plan/target-groups.ts";
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
  type Summary = { groups: { skipped: number; changed: number; fullChecks: number; driftRepaired: number; fullChecksDeferred: number } };
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
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 0, changed: 2, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    aws.resetHistory();
  });
  afterEach(() => {
    aws.restore();
    vi.useRealTimers();
  });

  it("a run whose names answer as before describes no group and writes nothing, warm or after a cold start", async () => {
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    handler = await coldStart();
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(describes()).toBe(0);
    expect(aws.writes()).toEqual({});
  });

  it("a name whose answer changed converges its group only, and the next run skips it again", async () => {
    server.set("db1.corp.test", { addresses: ["10.50.0.11", "10.50.0.12", "10.50.0.13"], ttl: 60 });
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 1, changed: 1, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.13:5432"]);
    expect(aws.elb).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: ARN });
    expect(aws.elb).not.toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: OTHER });
    aws.resetHistory();
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(describes()).toBe(0);
  });

  it("a target someone else deregistered out of band is registered again by the group's full check, and counted", async () => {
    aws.group(ARN).delete("10.50.0.12:5432");
    later(61_000);
    await handler(await scheduled(), context); // unchanged desired targets: not described yet
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432"]);

    later(FULL_CHECK_MS);
    const summary = await handler(await scheduled(), context);
    expect(summary.groups).toEqual({ skipped: 0, changed: 0, fullChecks: 2, driftRepaired: 1, fullChecksDeferred: 0 });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432"]);
    expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: ARN, Targets: [{ Id: "10.50.0.12", Port: 5432 }] });
    expect(aws.duplicateRegistrations).toEqual([]);

    // The check that found nothing wrote nothing, and this environment does not check again before the period.
    aws.resetHistory();
    later(61_000);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 2, changed: 0, fullChecks: 0, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(aws.writes()).toEqual({});
  });

  it("a full check that finds the group as converged writes nothing", async () => {
    later(FULL_CHECK_MS);
    expect((await handler(await scheduled(), context)).groups).toEqual({ skipped: 0, changed: 0, fullChecks: 2, driftRepaired: 0, fullChecksDeferred: 0 });
    expect(describes()).toBe(2);
    expect(aws.writes()).toEqual({});
  });
});
