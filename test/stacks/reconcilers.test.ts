// The reconcilers stack, synthesized as `sst deploy` would, checked with CDK assertions and cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { Reconcilers } from "../../stacks/Reconcilers.ts";
import { StrongswanSites } from "../../stacks/StrongswanSites.ts";

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore, Network, ProxyServices, StrongswanSites, Reconcilers]));
}, 180_000);

describe("Reconcilers", () => {
  it("runs the DNS sync handler on Node.js 22, one at a time", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "nodejs22.x",
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ CONFIG_BUCKET: Match.anyValue(), STATE_TABLE: Match.anyValue() }) },
    });
  });

  it("triggers it every minute and on Route 53 ChangeResourceRecordSets, with a dead-letter queue", () => {
    template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(1 minute)" });
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.route53"],
        "detail-type": ["AWS API Call via CloudTrail"],
        detail: { eventSource: ["route53.amazonaws.com"], eventName: ["ChangeResourceRecordSets"] },
      },
      Targets: [Match.objectLike({ DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }) })],
    });
  });

  it("also runs right after a config is accepted", () => {
    template.hasResourceProperties("AWS::Events::Rule", { EventPattern: { source: ["proxy-fleet"], "detail-type": ["Config Accepted"] } });
  });

  it("may register and deregister targets, and read the target health", () => {
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    for (const action of ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:DescribeTargetHealth", "events:PutEvents"]) {
      expect(policies).toContain(action);
    }
  });

  it("passes cdk-nag's AwsSolutions pack with no unexplained findings", () => {
    expect(nagFindings()).toEqual([]);
  });
});

describe("config rollout", () => {
  it("runs on pushes to the tracked branch of the config repository only", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: Match.objectLike({
        source: ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        detail: { event: ["referenceCreated", "referenceUpdated"], referenceType: ["branch"], referenceName: ["main"] },
      }),
    });
  });

  it("watches ECS deployments", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["aws.ecs"], "detail-type": ["ECS Deployment State Change"] },
    });
  });

  it("may register task definitions and update services, and pass roles only to ECS tasks", () => {
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    for (const action of ["ecs:RegisterTaskDefinition", "ecs:UpdateService", "codecommit:PostCommentForComparedCommit", "codecommit:GetFile"]) {
      expect(policies).toContain(action);
    }
    expect(policies).toContain('"iam:PassedToService":"ecs-tasks.amazonaws.com"');
  });
});

describe("instance heal", () => {
  it("runs on proxy ASGs' launch lifecycle actions and on instances shutting down", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["aws.autoscaling"], "detail-type": ["EC2 Instance-launch Lifecycle Action"], detail: { AutoScalingGroupName: [{ prefix: "proxy-fleet-" }] } },
    });
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], detail: { state: ["shutting-down", "terminated"] } },
    });
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    for (const action of ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:AssociateAddress", "autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]) {
      expect(policies).toContain(action);
    }
  });
});

describe("wiring", () => {
  it("tells the rollout loop which ECS service runs each fleet service", () => {
    const functions = JSON.stringify(template.findResources("AWS::Lambda::Function", { Properties: { Description: Match.stringLikeRegexp("config rollout") } }));
    for (const service of ["onprem-router", "lattice-ingress", "egress", "datacenter-vpn", "partner-forward"]) {
      expect(functions).toContain(`\\"${service}\\":{\\"cluster\\":\\"`);
    }
  });
});
