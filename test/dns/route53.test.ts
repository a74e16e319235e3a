// The Route 53 adapter through the real @aws-sdk/client-route-53 client. aws-sdk-client-mock answers with
// the documented response shapes (Route 53 API Reference: ListResourceRecordSets, GetHostedZone); one
// test puts the SDK's own XML parsing and retry in the path with a stub HTTP handler.
import { Readable } from "node:stream";
import { GetHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client, Route53ServiceException, type ResourceRecordSet } from "@aws-sdk/client-route-53";
import { HttpResponse } from "@smithy/protocol-http";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { hostedZoneIds, route53Client, route53Zones } from "../../functions/aws/route53.ts";
import type { DnsClient, Observation } from "../../functions/dns/resolve.ts";
import { zoneAwareClient, type HostedZone } from "../../functions/dns/zone.ts";

const route53 = mockClient(Route53Client);
afterEach(() => route53.reset());

const ZONE: HostedZone = { id: "Z0EXAMPLE1ABCDEF", name: "corp.example.com", private: true };
const NLB_NAME = "dualstack.internal-db-nlb-0123456789.elb.eu-west-1.amazonaws.com";

/** The resolver for names outside the zone: an NLB's name and an external CNAME target. */
function resolverFor(answers: Record<string, string[]>): DnsClient & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async lookup(name): Promise<Observation> {
      asked.push(name);
      return answers[name] ? { kind: "answer", addresses: answers[name]!, ttlSeconds: 60 } : { kind: "nxdomain" };
    },
  };
}

function zoneClient(resolver: DnsClient) {
  const port = route53Zones(route53Client(), [ZONE.id]);
  return zoneAwareClient({ zones: [ZONE], port, resolver, region: "eu-west-1" });
}

const weighted = (id: string, weight: number, value: string): ResourceRecordSet => ({
  Name: "db.corp.example.com.", Type: "A", SetIdentifier: id, Weight: weight, TTL: 300, ResourceRecords: [{ Value: value }],
});

describe("ListResourceRecordSets", () => {
  // Route 53 API Reference, ListResourceRecordSets: results are sorted by name (labels reversed) then type; when
  // IsTruncated, the next page starts at NextRecordName / NextRecordType / NextRecordIdentifier.
  it("follows IsTruncated pages with NextRecordName, NextRecordType and NextRecordIdentifier, and stops at the next name", async () => {
    route53.on(ListResourceRecordSetsCommand, { HostedZoneId: ZONE.id, StartRecordName: "db.corp.example.com" }).resolves({
      ResourceRecordSets: [weighted("blue", 100, "10.1.0.1"), weighted("green", 100, "10.1.0.2")],
      IsTruncated: true, NextRecordName: "db.corp.example.com.", NextRecordType: "A", NextRecordIdentifier: "red", MaxItems: 2,
    });
    route53.on(ListResourceRecordSetsCommand, { StartRecordIdentifier: "red" }).resolves({
      ResourceRecordSets: [weighted("red", 50, "10.1.0.3"), { Name: "x.db.corp.example.com.", Type: "A", TTL: 60, ResourceRecords: [{ Value: "10.9.9.9" }] }],
      IsTruncated: true, NextRecordName: "y.db.corp.example.com.", NextRecordType: "A", MaxItems: 2,
    });
    const seen = await zoneClient(resolverFor({})).lookup("db.corp.example.com", 4);
    expect(seen).toEqual({ source: "zone", zone: ZONE.id, observation: { kind: "answer", addresses: ["10.1.0.1", "10.1.0.2", "10.1.0.3"], ttlSeconds: 300 } });
    expect(route53).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 2);
    expect(route53).toHaveReceivedNthCommandWith(ListResourceRecordSetsCommand, 1, { HostedZoneId: ZONE.id, StartRecordName: "db.corp.example.com" });
    expect(route53).toHaveReceivedNthCommandWith(ListResourceRecordSetsCommand, 2, {
      HostedZoneId: ZONE.id, StartRecordName: "db.corp.example.com.", StartRecordType: "A", StartRecordIdentifier: "red",
    });
  });

  // Route 53 Developer Guide, "Value/route traffic to" for alias records: an alias to an ELB load balancer names
  // its DNS name; Route 53 answers with the load balancer's current addresses.
  it("resolves an alias to an NLB through the NLB's own name", async () => {
    route53.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: "db.corp.example.com.", Type: "A", AliasTarget: { HostedZoneId: "Z2IFOLAFXWLO4F", DNSName: `${NLB_NAME}.`, EvaluateTargetHealth: true } }],
      IsTruncated: false, MaxItems: 300,
    });
    const resolver = resolverFor({ [NLB_NAME]: ["10.20.0.5", "10.20.1.5"] });
    expect(await zoneClient(resolver).lookup("db.corp.example.com", 4)).toMatchObject({ source: "zone", observation: { addresses: ["10.20.0.5", "10.20.1.5"], ttlSeconds: 60 } });
    expect(resolver.asked).toEqual([NLB_NAME]);
  });

  // Route 53 Developer Guide, "Weighted routing": weight 0 stops traffic to that record.
  it("takes a weighted set's non-zero weights only", async () => {
    route53.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [weighted("blue", 0, "10.1.0.1"), weighted("green", 10, "10.1.0.2")], IsTruncated: false, MaxItems: 300,
    });
    expect(await zoneClient(resolverFor({})).lookup("db.corp.example.com", 4)).toMatchObject({ observation: { addresses: ["10.1.0.2"] } });
  });

  // Route 53 Developer Guide, "Failover routing": without a health check the primary is always healthy.
  it("takes a failover set's primary; with a health-checked primary the resolver answers", async () => {
    const failover = (role: "PRIMARY" | "SECONDARY", value: string, extra: Partial<ResourceRecordSet> = {}): ResourceRecordSet =>
      ({ Name: "db.corp.example.com.", Type: "A", SetIdentifier: role, Failover: role, TTL: 60, ResourceRecords: [{ Value: value }], ...extra });
    route53.on(ListResourceRecordSetsCommand).resolvesOnce({
      ResourceRecordSets: [failover("PRIMARY", "10.1.0.1"), failover("SECONDARY", "10.2.0.1")], IsTruncated: false, MaxItems: 300,
    }).resolvesOnce({
      ResourceRecordSets: [failover("PRIMARY", "10.1.0.1", { HealthCheckId: "abcdef11-2222-3333-4444-555555fedcba" }), failover("SECONDARY", "10.2.0.1")], IsTruncated: false, MaxItems: 300,
    });
    const resolver = resolverFor({ "db.corp.example.com": ["10.2.0.1"] });
    const client = zoneClient(resolver);
    expect(await client.lookup("db.corp.example.com", 4)).toMatchObject({ source: "zone", observation: { addresses: ["10.1.0.1"] } });
    expect(await client.lookup("db.corp.example.com", 4)).toMatchObject({ source: "resolver", why: "failover with a health-checked primary", observation: { addresses: ["10.2.0.1"] } });
  });

  it("follows a CNAME to a name outside the zone through the resolver", async () => {
    route53.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: "db.corp.example.com.", Type: "CNAME", TTL: 30, ResourceRecords: [{ Value: "db.partner.example.net" }] }], IsTruncated: false, MaxItems: 300,
    });
    const resolver = resolverFor({ "db.partner.example.net": ["192.0.2.10"] });
    expect(await zoneClient(resolver).lookup("db.corp.example.com", 4)).toMatchObject({ source: "zone", observation: { addresses: ["192.0.2.10"], ttlSeconds: 30 } });
    expect(route53).toHaveReceivedCommandTimes(ListResourceRecordSetsCommand, 1);
    expect(resolver.asked).toEqual(["db.partner.example.net"]);
  });

  // Route 53 API Reference, "Common Errors" / Route 53 quotas: requests over five per second per account get
  // HTTP 400 Throttling. The SDK retries it; once its attempts are spent the lookup is a failure (last known good).
  it("a Throttling error that outlasts the SDK's retries is a 'throttled' failure", async () => {
    route53.on(ListResourceRecordSetsCommand).rejects(new Route53ServiceException({
      name: "Throttling", $fault: "client", message: "Rate exceeded", $metadata: { httpStatusCode: 400 },
    }));
    expect(await zoneClient(resolverFor({})).lookup("db.corp.example.com", 4)).toMatchObject({
      source: "zone", observation: { kind: "failure", reason: "throttled", detail: "Throttling: Rate exceeded" },
    });
  });
});

describe("hosted zones (split horizon)", () => {
  it("reads the listed zones once; a private zone counts only when associated with the loop's VPC", async () => {
    route53.on(GetHostedZoneCommand, { Id: "ZPUBLIC" }).resolves({
      HostedZone: { Id: "/hostedzone/ZPUBLIC", Name: "corp.example.com.", CallerReference: "a", Config: { PrivateZone: false } },
    });
    route53.on(GetHostedZoneCommand, { Id: "ZPRIVATE" }).resolves({
      HostedZone: { Id: "/hostedzone/ZPRIVATE", Name: "corp.example.com.", CallerReference: "b", Config: { PrivateZone: true } },
      VPCs: [{ VPCRegion: "eu-west-1", VPCId: "vpc-0proxy" }],
    });
    route53.on(GetHostedZoneCommand, { Id: "ZOTHERVPC" }).resolves({
      HostedZone: { Id: "/hostedzone/ZOTHERVPC", Name: "db.corp.example.com.", CallerReference: "c", Config: { PrivateZone: true } },
      VPCs: [{ VPCRegion: "eu-west-1", VPCId: "vpc-0other" }],
    });
    const ids = hostedZoneIds(" ZPUBLIC,/hostedzone/ZPRIVATE,ZOTHERVPC,ZPUBLIC ");
    expect(ids).toEqual(["ZPUBLIC", "ZPRIVATE", "ZOTHERVPC"]);
    const port = route53Zones(route53Client(), ids, "vpc-0proxy");
    expect(await port.hostedZones()).toEqual([
      { id: "ZPUBLIC", name: "corp.example.com", private: false },
      { id: "ZPRIVATE", name: "corp.example.com", private: true },
    ]);
    await port.hostedZones();
    expect(route53).toHaveReceivedCommandTimes(GetHostedZoneCommand, 3);
  });
});

// Last in the file: it takes the mock off the client.
describe("the client's own retry", () => {
  it("parses Route 53's XML and retries a Throttling answer before it succeeds", async () => {
    route53.restore();
    const xml = (status: number, body: string) => new HttpResponse({ statusCode: status, headers: { "content-type": "text/xml" }, body: Readable.from([Buffer.from(body)]) });
    const answers = [
      xml(400, `<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>`),
      xml(200, `<?xml version="1.0" encoding="UTF-8"?><ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ResourceRecordSets><ResourceRecordSet><Name>db.corp.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>10.1.0.7</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems></ListResourceRecordSetsResponse>`),
    ];
    const requests: string[] = [];
    const client = route53Client({
      region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" },
      requestHandler: { handle: async (request: { path: string; query?: Record<string, unknown> }) => (requests.push(`${request.path}?name=${String(request.query?.name)}`), { response: answers.shift()! }) },
    });
    const sets = await route53Zones(client, [ZONE.id]).recordSets(ZONE.id, "db.corp.example.com");
    expect(sets).toEqual([{ Name: "db.corp.example.com.", Type: "A", TTL: 60, ResourceRecords: [{ Value: "10.1.0.7" }] }]);
    expect(requests).toEqual(Array(2).fill(`/2013-04-01/hostedzone/${ZONE.id}/rrset?name=db.corp.example.com`));
  });
});
