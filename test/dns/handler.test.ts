// The dns-sync Lambda handler through the real SDK clients (aws-sdk-client-mock answering with an
// in-memory AWS) and a real DNS server on loopback.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { DeregisterTargetsCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.ts";
import { FakeAws } from "../support/fake-aws.ts";

const ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/onprem-db/0123456789abcdef";
const BUCKET = "config-bucket";
const EVENTS = resolve(import.meta.dirname, "../../events");

let server: TestDnsServer;
let aws: FakeAws;
let handler: (event: unknown, context: Context) => Promise<Record<string, unknown>>;

const context = {
  functionName: "dns-sync", functionVersion: "1", invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:dns-sync",
  memoryLimitInMB: "512", awsRequestId: "req-1", logGroupName: "/aws/lambda/dns-sync", logStreamName: "s", callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const scheduled = async () => JSON.parse(await readFile(`${EVENTS}/scheduled-event.json`, "utf8"));
const route53 = async (name = "corp.test.") => {
  const event = JSON.parse(await readFile(`${EVENTS}/route53-change-resource-record-sets.json`, "utf8"));
  event.detail.requestParameters.changeBatch.changes[0].resourceRecordSet.name = name;
  return event;
};

function accept(fleetYaml: string) {
  aws.objects.set("accepted/current.json", { body: JSON.stringify({ commit: "abc123", files: { "fleet.yaml": fleetYaml } }), metadata: {} });
}

const fleet = (targets: string[]) => `version: 1
dns: { resolvers: ["${server.address}"], timeout: 300ms }
targetGroups:
  onprem-db:
    arn: ${ARN}
    port: 5432
    targets: [${targets.join(", ")}]
    availabilityZone: all
services:
  router:
    kind: haproxy
    listeners:
      - { name: pg, port: 5432, backends: [{ host: db1.corp.test, port: 5432 }] }
`;

beforeAll(async () => {
  server = await startDnsServer();
  Object.assign(process.env, {
    CONFIG_BUCKET: BUCKET, STATE_TABLE: "state", AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
    POWERTOOLS_LOG_LEVEL: "WARN", POWERTOOLS_TRACE_ENABLED: "false", POWERTOOLS_METRICS_DISABLED: "true",
  });
});
afterAll(async () => server?.close());

beforeEach(async () => {
  vi.resetModules(); // a fresh handler module: a cold start with an empty lookup schedule
  aws = new FakeAws();
  handler = (await import("../../functions/dns-sync.ts")).handler as never;
  server.set("db1.corp.test", { addresses: ["10.50.0.11", "10.50.0.12"] });
  accept(fleet(["db1.corp.test", "10.50.0.20"]));
});
afterEach(() => aws.restore());

describe("events", () => {
  it("takes the EventBridge Scheduled Event from events/ and converges everything", async () => {
    const summary = await handler(await scheduled(), context);
    expect(summary).toMatchObject({ commit: "abc123", looked: 1, documentsWritten: ["router"] });
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.20:5432"]);
    expect(aws.elb).toHaveReceivedCommandWith(RegisterTargetsCommand, {
      TargetGroupArn: ARN,
      Targets: [
        { Id: "10.50.0.11", Port: 5432, AvailabilityZone: "all" },
        { Id: "10.50.0.12", Port: 5432, AvailabilityZone: "all" },
        { Id: "10.50.0.20", Port: 5432, AvailabilityZone: "all" },
      ],
    });
    expect(aws.s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: BUCKET, Key: "runtime/router/targets.json", ContentType: "application/json" });
    expect(JSON.parse(aws.objects.get("runtime/router/targets.json")!.body)).toEqual({
      service: "router", targets: { "db1.corp.test": ["10.50.0.11", "10.50.0.12"] },
    });
  });

  it("takes the Route 53 ChangeResourceRecordSets CloudTrail event and looks only under the changed name", async () => {
    await handler(await scheduled(), context);
    server.set("db1.corp.test", { addresses: ["10.50.0.11", "10.50.0.12", "10.50.0.13"] });
    const summary = await handler(await route53("db1.corp.test."), context);
    expect(summary).toMatchObject({ looked: 1, registered: ["onprem-db 10.50.0.13:5432"] });
    const unrelated = await handler(await route53("other.example.com."), context);
    expect(unrelated).toMatchObject({ looked: 0, registered: [] });
  });

  it("takes the rollout loop's Config Accepted event and looks up the names the new config brings", async () => {
    await handler(await scheduled(), context);
    server.set("new.corp.test", { addresses: ["10.50.0.30"] });
    accept(fleet(["db1.corp.test", "10.50.0.20", "new.corp.test"]));
    const event = JSON.parse(await readFile(`${EVENTS}/proxy-fleet-config-accepted.json`, "utf8"));
    expect(await handler(event, context)).toMatchObject({ looked: 1, registered: ["onprem-db 10.50.0.30:5432"] });
  });

  it("rejects a malformed event with a clear log line and makes no call at all", async () => {
    const errors: string[] = [];
    const capture = (chunk: unknown) => void errors.push(String(chunk));
    const spies = [process.stdout, process.stderr].map((stream) => vi.spyOn(stream, "write").mockImplementation((chunk) => (capture(chunk), true)));
    const event = await route53();
    delete event.detail.requestParameters.changeBatch;
    const result = await handler(event, context);
    for (const spy of spies) spy.mockRestore();
    expect(result).toEqual({ rejected: true });
    expect(aws.totalCalls()).toBe(0);
    const line = JSON.parse(errors.find((e) => e.includes("rejected a malformed event"))!);
    expect(line).toMatchObject({ level: "ERROR", message: "rejected a malformed event; nothing was changed" });
    expect(line.problems.join("\n")).toContain("changeBatch");
  });
});

describe("writes", () => {
  it("a no-change run sends zero write calls", async () => {
    await handler(await scheduled(), context);
    aws.resetHistory();
    const summary = await handler(await route53("corp.test."), context); // looks everything up again: same answers
    expect(summary).toMatchObject({ looked: 1, registered: [], deregistered: [], documentsWritten: [] });
    expect(aws.writes()).toEqual({});
  });

  it("a change sends ⌈changes / batch⌉ register calls (batches of 100)", async () => {
    const many = Array.from({ length: 250 }, (_, i) => `10.60.${Math.floor(i / 200)}.${(i % 200) + 1}`);
    server.set("db1.corp.test", { addresses: many, truncateOverUdp: true });
    accept(fleet(["db1.corp.test"]));
    await handler(await scheduled(), context);
    expect(aws.elb).toHaveReceivedCommandTimes(RegisterTargetsCommand, 3);
    expect(aws.registered(ARN)).toHaveLength(250);
    expect(aws.elb).not.toHaveReceivedCommand(DeregisterTargetsCommand);
  });

  it("never deregisters a target it does not own; deregisters its own once DNS drops them", async () => {
    aws.group(ARN).set("10.50.0.99:5432", { Id: "10.50.0.99", Port: 5432 }); // registered by someone else
    await handler(await scheduled(), context);
    accept(fleet(["db1.corp.test"])); // 10.50.0.20 is no longer wanted
    await handler(await route53("corp.test."), context);
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.99:5432"]);
    expect(aws.elb).toHaveReceivedCommandWith(DeregisterTargetsCommand, { TargetGroupArn: ARN, Targets: [{ Id: "10.50.0.20", Port: 5432 }] });
  });

  it("adopts existing targets only when asked to", async () => {
    aws.group(ARN).set("10.50.0.11:5432", { Id: "10.50.0.11", Port: 5432 });
    accept(fleet(["db1.corp.test"]).replace("availabilityZone: all", "availabilityZone: all\n    adoptExisting: true"));
    await handler(await scheduled(), context);
    const owned = aws.items.get(`owner#${ARN}|targets`)!.targets as string[];
    expect(owned).toEqual(["10.50.0.11:5432", "10.50.0.12:5432"]);
  });

  it("publishes an event and holds the removal when a list would shrink too far", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    await handler(await scheduled(), context);
    server.set("db1.corp.test", "nxdomain");
    for (let i = 0; i < 3; i++) {
      vi.setSystemTime(Date.now() + 61_000 * (i + 1));
      await handler(await route53("db1.corp.test."), context);
    }
    vi.useRealTimers();
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.20:5432"]);
    expect(aws.published).toEqual([{ detailType: "DNS Removal Held", detail: { commit: "abc123", held: [{ record: "db1.corp.test/A", held: ["10.50.0.11", "10.50.0.12"] }] } }]);
  });

  // The loop's rule (docs/design.md): a no-change run makes zero write calls — a removal that stays held is news once.
  it("announces a held removal once, not on every run while it stays held, and a run that changes nothing writes nothing", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      await handler(await scheduled(), context);
      server.set("db1.corp.test", "nxdomain");
      for (let i = 0; i < 6; i++) {
        vi.setSystemTime(Date.now() + 61_000);
        aws.resetHistory();
        await handler(await route53("db1.corp.test."), context);
        // Runs 1-2 count misses, run 3 holds and announces, runs 4-6 change nothing.
        if (i >= 3) expect(aws.writes()).toEqual({});
      }
      expect(aws.published.filter((e) => e.detailType === "DNS Removal Held")).toHaveLength(1);
      expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.20:5432"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a DNS Removal Held that EventBridge refuses is announced by the next run", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      await handler(await scheduled(), context);
      server.set("db1.corp.test", "nxdomain");
      aws.refuseEvents = 1;
      const outcomes: string[] = [];
      for (let i = 0; i < 4; i++) {
        vi.setSystemTime(Date.now() + 61_000);
        outcomes.push(await handler(await route53("db1.corp.test."), context).then(() => "ok", (e: Error) => e.name));
      }
      expect(outcomes).toEqual(["ok", "ok", "Error", "ok"]);
      expect(aws.published.filter((e) => e.detailType === "DNS Removal Held")).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the config that actually runs", () => {
  it("follows a rolled-back service's running config, not the failed commit's names", async () => {
    server.set("db2.corp.test", { addresses: ["10.60.0.2"] });
    const failed = fleet(["10.50.0.20"]).replace("host: db1.corp.test", "host: db2.corp.test");
    aws.objects.set("accepted/current.json", {
      body: JSON.stringify({ commit: "failed", files: { "fleet.yaml": failed }, pinned: { router: { commit: "good", files: { "fleet.yaml": fleet(["10.50.0.20"]) } } } }),
      metadata: {},
    });
    await handler(await scheduled(), context);
    const document = JSON.parse(aws.objects.get("runtime/router/targets.json")!.body) as { targets: Record<string, string[]> };
    expect(document.targets).toEqual({ "db1.corp.test": ["10.50.0.11", "10.50.0.12"] });
  });

  it("leaves a service pinned to nothing alone: no runtime document is written for it", async () => {
    aws.objects.set("accepted/current.json", {
      body: JSON.stringify({ commit: "failed", files: { "fleet.yaml": fleet(["10.50.0.20"]) }, pinned: { router: null } }), metadata: {},
    });
    await handler(await scheduled(), context);
    expect(aws.objects.has("runtime/router/targets.json")).toBe(false);
    expect(aws.registered(ARN)).toEqual(["10.50.0.20:5432"]);
  });
});

describe("robustness", () => {
  it("converges through 30% injected throttling and 5xx errors, with no duplicate registration", async () => {
    const many = Array.from({ length: 120 }, (_, i) => `10.70.0.${i + 1}`);
    server.set("db1.corp.test", { addresses: many, truncateOverUdp: true });
    aws.faultRate = 0.3;
    let runs = 0;
    let failedRuns = 0;
    const desired = [...many, "10.50.0.20"].map((a) => `${a}:5432`).sort();
    while (runs < 40 && aws.registered(ARN).join() !== desired.join()) {
      runs++;
      await handler(await route53("corp.test."), context).catch(() => failedRuns++);
    }
    aws.faultRate = 0;
    await handler(await route53("corp.test."), context); // settles documents and ownership
    expect(aws.faultsInjected).toBeGreaterThan(0);
    expect(failedRuns).toBeGreaterThan(0);
    expect(aws.registered(ARN)).toEqual(desired);
    expect(aws.duplicateRegistrations).toEqual([]);
    expect(aws.items.get(`owner#${ARN}|targets`)!.targets).toEqual(desired);
    expect(JSON.parse(aws.objects.get("runtime/router/targets.json")!.body).targets["db1.corp.test"]).toEqual([...many].sort());
  });

  it("two concurrent runs end in the correct state, registering each target once (10 interleavings)", async () => {
    for (let seed = 1; seed <= 10; seed++) {
      aws.restore();
      aws = new FakeAws(seed);
      accept(fleet(["db1.corp.test", "10.50.0.20"]));
      vi.resetModules();
      // Two module instances: two Lambda execution environments, each with its own memory.
      const module = "../../functions/dns-sync.ts";
      const [first, second] = await Promise.all([`${module}?a${seed}`, `${module}?b${seed}`].map(async (path) =>
        ((await import(path)) as { handler: typeof handler }).handler));
      aws.jitterMs = 5;
      await Promise.all([first!(await scheduled(), context), second!(await route53("corp.test."), context)]);
      expect(aws.registered(ARN), `seed ${seed}`).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.20:5432"]);
      expect(aws.duplicateRegistrations, `seed ${seed}`).toEqual([]);
      expect(aws.items.get(`owner#${ARN}|targets`)!.targets).toEqual(["10.50.0.11:5432", "10.50.0.12:5432", "10.50.0.20:5432"]);
      const state = aws.items.get("dns#db1.corp.test/A|state")!;
      expect((state.state as { addressList: string }).addressList).toBe("10.50.0.11,10.50.0.12");
      expect([...aws.items.keys()].filter((k) => k.startsWith("lease#")), "leases are released").toEqual([]);
    }
  });
});

describe("metrics", () => {
  it("emits the loop's figures as CloudWatch EMF", async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    vi.resetModules();
    const fresh = (await import("../../functions/dns-sync.ts")).handler as unknown as typeof handler;
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((c) => (lines.push(String(c)), true));
    try {
      await fresh(await scheduled(), context);
    } finally {
      spy.mockRestore();
      process.env.POWERTOOLS_METRICS_DISABLED = "true";
    }
    const emf = lines.map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).find((l) => l?._aws?.CloudWatchMetrics);
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe("ProxyFleet");
    expect(emf).toMatchObject({ NamesResolved: 1, LookupFailures: 0, NamesFailingLong: 0, TargetsRegistered: 3, TargetsDeregistered: 0, RemovalsHeld: 0, Drift: 4 });
  });
});
