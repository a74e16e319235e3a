// Route 53 for the DNS loop: the us-east-1 forwarding template (synthesized, checked against the committed
// file, run through cdk-nag) and the DNS Lambda's hosted-zone permission, scoped to the listed zones.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { App, Aspects, Stack } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { Reconcilers } from "../../stacks/Reconcilers.ts";
import { StrongswanSites } from "../../stacks/StrongswanSites.ts";
import { synth } from "../support/synth.ts";
import {
  ROUTE53_CHANGE_PATTERN, ROUTE53_EVENTS_REGION, Route53EventForwarder, allowHostedZoneReads, forwarderTemplate, hostedZoneSetting,
} from "../../stacks/Route53Events.ts";

const COMMITTED = resolve(import.meta.dirname, "../../stacks/route53-forwarder.template.json");

describe("the us-east-1 forwarder", () => {
  it("the committed template is the one the code synthesizes (regenerate it when the stack changes)", () => {
    expect(JSON.parse(readFileSync(COMMITTED, "utf8"))).toEqual(forwarderTemplate());
  });

  // CloudTrail User Guide / EventBridge User Guide, "Events from AWS services": Route 53 is a global service whose
  // API calls arrive as "AWS API Call via CloudTrail" events in US East (N. Virginia) only.
  it("lives in us-east-1 and matches Route 53 ChangeResourceRecordSets CloudTrail events, as in events/", () => {
    const app = new App();
    const stack = new Route53EventForwarder(app, "Forwarder");
    expect(stack.region).toBe(ROUTE53_EVENTS_REGION);
    const sample = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../events/route53-change-resource-record-sets.json"), "utf8"));
    expect(ROUTE53_CHANGE_PATTERN.source).toContain(sample.source);
    expect(ROUTE53_CHANGE_PATTERN.detailType).toContain(sample["detail-type"]);
    const detail = ROUTE53_CHANGE_PATTERN.detail as Record<string, string[]>;
    expect(detail.eventSource).toContain(sample.detail.eventSource);
    expect(detail.eventName).toContain(sample.detail.eventName);
    Template.fromStack(stack).hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["aws.route53"], "detail-type": ["AWS API Call via CloudTrail"], detail: { eventSource: ["route53.amazonaws.com"], eventName: ["ChangeResourceRecordSets"] } },
    });
  });

  // EventBridge User Guide, "Sending and receiving events between AWS Regions": the target is the other Region's
  // bus ARN, and EventBridge uses a role allowed events:PutEvents on that bus.
  it("targets the parameter bus with a role that may put events on that bus only", () => {
    const template = forwarderTemplate() as { Parameters: Record<string, { AllowedPattern: string }> };
    const t = Template.fromJSON(template as Record<string, unknown>);
    t.hasResourceProperties("AWS::Events::Rule", {
      Targets: [{ Arn: { Ref: "TargetEventBusArn" }, RoleArn: { "Fn::GetAtt": [Match.stringLikeRegexp("ForwardRoute53ChangesEventsRole"), "Arn"] } }],
    });
    t.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: { Statement: [{ Action: "events:PutEvents", Effect: "Allow", Resource: { Ref: "TargetEventBusArn" } }] },
    });
    t.hasResourceProperties("AWS::IAM::Role", { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: "events.amazonaws.com" } }] } });
    const allowed = new RegExp(template.Parameters.TargetEventBusArn!.AllowedPattern);
    expect(allowed.test("arn:aws:events:eu-west-1:123456789012:event-bus/default")).toBe(true);
    expect(allowed.test("arn:aws:events:eu-west-1:123456789012:event-bus/proxy-fleet-dev_events")).toBe(false);
    expect(allowed.test("arn:aws:events:eu-west-1:1234:event-bus/default")).toBe(false);
  });

  it("passes cdk-nag's AwsSolutions pack", () => {
    const app = new App();
    const stack = new Route53EventForwarder(app, "Forwarder");
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
    app.synth();
    const findings = [
      ...Annotations.fromStack(stack).findError("*", Match.stringLikeRegexp("AwsSolutions-.*")),
      ...Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("AwsSolutions-.*")),
    ].map((f) => `${f.id}: ${String(f.entry.data).slice(0, 120)}`);
    expect(findings).toEqual([]);
  });
});

describe("the DNS Lambda's hosted-zone reads", () => {
  function dnsFunction() {
    const stack = new Stack(new App(), "Reconcilers", { env: { account: "123456789012", region: "eu-west-1" } });
    const fn = new lambda.Function(stack, "DnsSync", { runtime: lambda.Runtime.NODEJS_22_X, handler: "index.handler", code: lambda.Code.fromInline("exports.handler=()=>{}") });
    return { stack, fn };
  }

  // Service Authorization Reference, Amazon Route 53: ListResourceRecordSets and GetHostedZone take the
  // hostedzone resource type, arn:${Partition}:route53:::hostedzone/${Id} (no region, no account).
  it("allows ListResourceRecordSets and GetHostedZone on the listed zones only, and tells the Lambda which", () => {
    const { stack, fn } = dnsFunction();
    allowHostedZoneReads(fn, ["Z0EXAMPLE1ABCDEF", "Z0EXAMPLE2ABCDEF"], "vpc-0proxy");
    const template = Template.fromStack(stack);
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: { Statement: [{
        Action: ["route53:ListResourceRecordSets", "route53:GetHostedZone"], Effect: "Allow",
        Resource: ["Z0EXAMPLE1ABCDEF", "Z0EXAMPLE2ABCDEF"].map((id) => ({ "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:route53:::hostedzone/${id}`]] })),
      }] },
    });
    template.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: { HOSTED_ZONE_IDS: "Z0EXAMPLE1ABCDEF,Z0EXAMPLE2ABCDEF", VPC_ID: "vpc-0proxy" } } });
  });

  it("adds nothing when no zone is listed", () => {
    const { stack, fn } = dnsFunction();
    allowHostedZoneReads(fn, [], "vpc-0proxy");
    Template.fromStack(stack).resourceCountIs("AWS::IAM::Policy", 0);
  });

  it("reads PROXY_FLEET_HOSTED_ZONES and refuses what is not a zone id", () => {
    expect(hostedZoneSetting({ PROXY_FLEET_HOSTED_ZONES: "Z0EXAMPLE1ABCDEF, /hostedzone/Z0EXAMPLE2ABCDEF" })).toEqual(["Z0EXAMPLE1ABCDEF", "Z0EXAMPLE2ABCDEF"]);
    expect(hostedZoneSetting({})).toEqual([]);
    expect(() => hostedZoneSetting({ PROXY_FLEET_HOSTED_ZONES: "corp.example.com" })).toThrow(/not a hosted zone id: corp\.example\.com/);
  });
});

describe("in the app", () => {
  it("the DNS Lambda of the synthesized app may read exactly the listed zones, knows its VPC, and its Route 53 rule has no nag finding", async () => {
    process.env.PROXY_FLEET_HOSTED_ZONES = "Z0EXAMPLE1ABCDEF";
    let synthesized: Awaited<ReturnType<typeof synth>>;
    try {
      synthesized = await synth([ConfigStore, Network, ProxyServices, StrongswanSites, Reconcilers]);
    } finally {
      delete process.env.PROXY_FLEET_HOSTED_ZONES;
    }
    const { template, nagFindings } = synthesized;
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: { Statement: Match.arrayWith([{
        Action: ["route53:ListResourceRecordSets", "route53:GetHostedZone"], Effect: "Allow",
        Resource: { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":route53:::hostedzone/Z0EXAMPLE1ABCDEF"]] },
      }]) },
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("DNS sync"),
      Environment: { Variables: Match.objectLike({ HOSTED_ZONE_IDS: "Z0EXAMPLE1ABCDEF", VPC_ID: Match.anyValue() }) },
    });
    template.hasResourceProperties("AWS::Events::Rule", { EventPattern: { source: ["aws.route53"] } });
    expect(nagFindings()).toEqual([]);
  }, 180_000);
});
