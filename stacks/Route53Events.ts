// Route 53 for the DNS loop: read access to the listed hosted zones (and only those), and, for a deployment
// outside us-east-1, the rule that forwards Route 53 change events from us-east-1's default bus to the app
// region's default bus.
//
// SST v2 creates every CloudFormation stack of the app with the app region's client (sst/stacks/deploy.js),
// whatever `env` a stack asks for: the forwarder cannot be a stack of this app. It is a plain CDK stack,
// synthesized to stacks/route53-forwarder.template.json (checked by test/stacks/route53-events.test.ts) and
// deployed once per account and app region with the AWS CLI (README, "Deploying").
import { App, CfnOutput, CfnParameter, DefaultStackSynthesizer, Stack, type StackProps } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type { Construct } from "constructs";
import { hostedZoneIds } from "../functions/dns/zone.ts";

/** Route 53 API calls reach EventBridge through CloudTrail, and only on the us-east-1 default bus. */
export const ROUTE53_EVENTS_REGION = "us-east-1";

/** The CloudTrail events the DNS loop reacts to. */
export const ROUTE53_CHANGE_PATTERN: events.EventPattern = {
  source: ["aws.route53"],
  detailType: ["AWS API Call via CloudTrail"],
  detail: { eventSource: ["route53.amazonaws.com"], eventName: ["ChangeResourceRecordSets"] },
};

/** A Route 53 hosted zone id: "Z" and upper-case letters and digits. */
const ZONE_ID = /^Z[A-Z0-9]{1,31}$/;

/**
 * PROXY_FLEET_HOSTED_ZONES: the hosted zones whose names the DNS loop reads from Route 53 ("Z1,Z2"): the
 * private zones associated with the proxies' VPC, and public zones. Empty: every name through the resolver.
 */
export function hostedZoneSetting(env: NodeJS.ProcessEnv = process.env): string[] {
  const ids = hostedZoneIds(env.PROXY_FLEET_HOSTED_ZONES);
  const bad = ids.filter((id) => !ZONE_ID.test(id));
  if (bad.length > 0) throw new Error(`PROXY_FLEET_HOSTED_ZONES: not a hosted zone id: ${bad.join(", ")} (expected e.g. Z0123456789ABCDEFGHIJ)`);
  return ids;
}

/**
 * Lets the DNS Lambda read the listed zones (ListResourceRecordSets, GetHostedZone) and tells it which
 * (HOSTED_ZONE_IDS) and from which VPC its resolver answers (VPC_ID: private zones must be associated with it).
 */
// Service Authorization Reference, "Actions, resources, and condition keys for Amazon Route 53":
// ListResourceRecordSets and GetHostedZone take the hostedzone resource, arn:${Partition}:route53:::hostedzone/${Id}.
export function allowHostedZoneReads(fn: lambda.Function, zoneIds: readonly string[], vpcId: string): void {
  if (zoneIds.length === 0) return;
  const stack = Stack.of(fn);
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["route53:ListResourceRecordSets", "route53:GetHostedZone"],
    resources: zoneIds.map((id) => stack.formatArn({ service: "route53", region: "", account: "", resource: "hostedzone", resourceName: id })),
  }));
  fn.addEnvironment("HOSTED_ZONE_IDS", zoneIds.join(","));
  fn.addEnvironment("VPC_ID", vpcId);
}

/**
 * In us-east-1: one rule that sends Route 53 change events to the default bus of the region the app runs in,
 * where the app's own rule hands them to the DNS Lambda. The target bus is a parameter, so one template
 * serves every region and stage of an account.
 */
// EventBridge User Guide, "Sending and receiving events between AWS Regions": a rule may target an event bus
// in another Region by its ARN; EventBridge needs a role allowed to events:PutEvents on that bus.
export class Route53EventForwarder extends Stack {
  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, { ...props, env: { ...props.env, region: ROUTE53_EVENTS_REGION } });
    const target = new CfnParameter(this, "TargetEventBusArn", {
      type: "String",
      description: "The default event bus of the region proxy-fleet runs in: arn:aws:events:<region>:<account>:event-bus/default",
      allowedPattern: "^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/default$",
    });
    const rule = new events.Rule(this, "ForwardRoute53Changes", {
      description: "proxy-fleet: Route 53 record changes (CloudTrail, us-east-1 only) to the region proxy-fleet runs in",
      eventPattern: ROUTE53_CHANGE_PATTERN,
      targets: [new targets.EventBus(events.EventBus.fromEventBusArn(this, "AppRegionBus", target.valueAsString))],
    });
    new CfnOutput(this, "ForwardingRule", { value: rule.ruleArn });
  }
}

/** The forwarder as a standalone CloudFormation template: no CDK bootstrap needed to deploy it. */
export function forwarderTemplate(): unknown {
  const app = new App();
  const stack = new Route53EventForwarder(app, "Route53EventForwarder", {
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
  });
  return app.synth().getStackByName(stack.stackName).template;
}
