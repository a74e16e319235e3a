// The dns-sync handler with a watched Route 53 zone: the real SDK clients (aws-sdk-client-mock answering),
// a real DNS server on loopback playing the caching VPC resolver.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { GetHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client } from "@aws-sdk/client-route-53";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.ts";
import { FakeAws } from "../support/fake-aws.ts";

const ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/onprem-db/0123456789abcdef";
const ZONE_ID = "Z0EXAMPLE1ABCDEF";
const EVENTS = resolve(import.meta.dirname, "../../events");
const route53 = mockClient(Route53Client);

let server: TestDnsServer;
let aws: FakeAws;
let handler: (event: unknown, context: Context) => Promise<Record<string, unknown>>;
/** What the hosted zone holds for db1.corp.test. */
let zoneAddresses: string[];

const context = {
  functionName: "dns-sync", functionVersion: "1", invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:dns-sync",
  memoryLimitInMB: "512", awsRequestId: "req-1", logGroupName: "/aws/lambda/dns-sync", logStreamName: "s", callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const event = async (file: string, edit: (detail: { requestParameters: { hostedZoneId: string; changeBatch: { changes: Array<{ action: string; resourceRecordSet: { name: string } }> } } }) => void = () => {}) => {
  const parsed = JSON.parse(await readFile(`${EVENTS}/${file}`, "utf8"));
  parsed.detail.requestParameters.changeBatch.changes[0].resourceRecordSet.name = "db1.corp.test.";
  edit(parsed.detail);
  return parsed;
};
const changed = () => event("route53-change-resource-record-sets.json");
const scheduled = async () => JSON.parse(await readFile(`${EVENTS}/scheduled-event.json`, "utf8"));

const fleet = () => `version: 1
dns: { resolvers: ["${server.address}"], timeout: 300ms }
targetGroups:
  onprem-db: { arn: ${ARN}, port: 5432, targets: [db1.corp.test], availabilityZone: all }
services:
  router:
    kind: haproxy
    listeners:
      - { name: pg, port: 5432, backends: [{ host: db1.corp.test, port: 5432 }] }
`;

async function coldStart(hostedZones: string | undefined) {
  if (hostedZones === undefined) delete process.env.HOSTED_ZONE_IDS;
  else process.env.HOSTED_ZONE_IDS = hostedZones;
  vi.resetModules();
  handler = (await import("../../functions/dns-sync.ts")).handler as never;
}

beforeAll(async () => {
  server = await startDnsServer();
  Object.assign(process.env, {
    CONFIG_BUCKET: "config-bucket", STATE_TABLE: "state", AWS_REGION: "eu-west-1", VPC_ID: "vpc-0proxy",
    AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
    POWERTOOLS_LOG_LEVEL: "WARN", POWERTOOLS_TRACE_ENABLED: "false", POWERTOOLS_METRICS_DISABLED: "true",
  });
});
afterAll(async () => {
  delete process.env.HOSTED_ZONE_IDS;
  delete process.env.VPC_ID;
  route53.restore();
  await server?.close();
});

beforeEach(async () => {
  aws = new FakeAws();
  route53.reset();
  route53.on(GetHostedZoneCommand, { Id: ZONE_ID }).resolves({
    HostedZone: { Id: `/hostedzone/${ZONE_ID}`, Name: "corp.test.", CallerReference: "ref", Config: { PrivateZone: true } },
    VPCs: [{ VPCRegion: "eu-west-1", VPCId: "vpc-0proxy" }],
  });
  route53.on(ListResourceRecordSetsCommand).callsFake((input: { StartRecordName: string }) => ({
    ResourceRecordSets: input.StartRecordName === "db1.corp.test"
      ? [{ Name: "db1.corp.test.", Type: "A", TTL: 300, ResourceRecords: zoneAddresses.map((Value) => ({ Value })) }]
      : [],
    IsTruncated: false, MaxItems: "300",
  }));
  zoneAddresses = ["10.50.0.11"];
  server.set("db1.corp.test", { addresses: ["10.50.0.11"], ttl: 300 });
  aws.objects.set("accepted/current.json", { body: JSON.stringify({ commit: "abc123", files: { "fleet.yaml": fleet() } }), metadata: {} });
});
afterEach(() => aws.restore());

describe("a record change reaches the targets whatever its TTL", () => {
  it("the resolver still answers the old address from its cache; after the change event the targets follow the zone in one run", async () => {
    await coldStart(ZONE_ID);
    expect(await handler(await scheduled(), context)).toMatchObject({ looked: 1, fromZone: 1, registered: ["onprem-db 10.50.0.11:5432"] });
    zoneAddresses = ["10.50.0.13"]; // the zone changed; the resolver (TTL 300) still has 10.50.0.11 cached
    const summary = await handler(await changed(), context);
    expect(summary).toMatchObject({ looked: 1, fromZone: 1, registered: ["onprem-db 10.50.0.13:5432"], documentsWritten: ["router"] });
    expect(JSON.parse(aws.objects.get("runtime/router/targets.json")!.body).targets).toEqual({ "db1.corp.test": ["10.50.0.11", "10.50.0.13"] });
    expect(route53).toHaveReceivedCommandWith(ListResourceRecordSetsCommand, { HostedZoneId: ZONE_ID, StartRecordName: "db1.corp.test" });
    // The old address leaves by the tracker's rule (consecutive misses), as for any DNS answer.
    expect(aws.registered(ARN)).toEqual(["10.50.0.11:5432", "10.50.0.13:5432"]);
  });

  it("without a watched zone the same event reads the resolver, which still has the old answer", async () => {
    await coldStart(undefined);
    await handler(await scheduled(), context);
    zoneAddresses = ["10.50.0.13"];
    expect(await handler(await changed(), context)).toMatchObject({ looked: 1, fromZone: 0, registered: [] });
    expect(route53).not.toHaveReceivedCommand(ListResourceRecordSetsCommand);
  });
});

describe("change events that change nothing, counted", () => {
  // CloudTrail User Guide, "CloudTrail record contents": errorCode is set when the API call failed.
  it("a call that failed (errorCode set), a change in a zone not watched, and a delete-only batch", async () => {
    await coldStart(ZONE_ID);
    const failed = await handler(await event("route53-change-resource-record-sets-failed.json"), context);
    const unwatched = await handler(await event("route53-change-resource-record-sets.json", (d) => void (d.requestParameters.hostedZoneId = "Z9OTHERZONE")), context);
    const deleted = await handler(await event("route53-change-resource-record-sets.json", (d) => void (d.requestParameters.changeBatch.changes[0]!.action = "DELETE")), context);
    expect([failed, unwatched, deleted]).toEqual([
      { looked: 0, ignored: { failedCall: 1, unwatchedZone: 0, deletion: 0 } },
      { looked: 0, ignored: { failedCall: 0, unwatchedZone: 1, deletion: 0 } },
      { looked: 0, ignored: { failedCall: 0, unwatchedZone: 0, deletion: 1 } },
    ]);
    expect(aws.totalCalls()).toBe(0);
    expect(route53.calls()).toHaveLength(0);
  });

  it("a DELETE with a CREATE of the same name in one batch is a change: the name is read", async () => {
    await coldStart(ZONE_ID);
    const replaced = await event("route53-change-resource-record-sets.json", (d) => {
      const [create] = d.requestParameters.changeBatch.changes;
      d.requestParameters.changeBatch.changes = [{ ...create!, action: "DELETE" }, create!];
    });
    expect(await handler(replaced, context)).toMatchObject({ looked: 1, fromZone: 1, ignored: { deletion: 0 } });
  });

  it("counts each kind as a CloudWatch metric", async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((c) => (lines.push(String(c)), true));
    try {
      await coldStart(ZONE_ID);
      await handler(await event("route53-change-resource-record-sets-failed.json"), context);
    } finally {
      spy.mockRestore();
      process.env.POWERTOOLS_METRICS_DISABLED = "true";
    }
    const emf = lines.map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).find((l) => l?._aws?.CloudWatchMetrics);
    expect(emf).toMatchObject({ Route53ChangesIgnoredFailedCall: 1, Route53ChangesIgnoredUnwatchedZone: 0, Route53ChangesIgnoredDeletion: 0 });
  });
});
