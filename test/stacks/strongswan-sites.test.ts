// The strongSwan sites stack for the example config, synthesized and checked with cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { LIFECYCLE_HOOK, StrongswanSites } from "../../stacks/StrongswanSites.ts";

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore, Network, StrongswanSites]));
}, 180_000);

describe("StrongswanSites (examples/: datacenter-vpn and partner-forward)", () => {
  it("creates each group with the launch lifecycle hook as part of the group itself", () => {
    template.resourceCountIs("AWS::AutoScaling::AutoScalingGroup", 2);
    template.hasResourceProperties("AWS::AutoScaling::AutoScalingGroup", {
      AutoScalingGroupName: "proxy-fleet-test-datacenter-vpn",
      MinSize: "1",
      MaxSize: "1",
      LifecycleHookSpecificationList: [{ LifecycleHookName: LIFECYCLE_HOOK, LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout: 300, DefaultResult: "ABANDON" }],
      Tags: Match.arrayWith([{ Key: "proxy-fleet:service", Value: "datacenter-vpn", PropagateAtLaunch: true }]),
    });
    template.resourceCountIs("AWS::AutoScaling::LifecycleHook", 0);
  });

  it("keeps a persistent ENI per AZ (no source/dest check) and an Elastic IP per service, tagged for the heal loop", () => {
    template.resourceCountIs("AWS::EC2::NetworkInterface", 4);
    template.hasResource("AWS::EC2::NetworkInterface", {
      Properties: { SourceDestCheck: false, Tags: [{ Key: "proxy-fleet:service", Value: "datacenter-vpn" }] },
      DeletionPolicy: "Retain",
    });
    template.hasResource("AWS::EC2::EIP", { Properties: { Domain: "vpc", Tags: [{ Key: "proxy-fleet:service", Value: "partner-forward" }] }, DeletionPolicy: "Retain" });
  });

  it("opens IKE, NAT-T and ESP to each peer only, and forwarded ports to their sources", () => {
    template.hasResourceProperties("AWS::EC2::SecurityGroup", {
      SecurityGroupIngress: Match.arrayWith([
        Match.objectLike({ CidrIp: "198.51.100.7/32", IpProtocol: "udp", FromPort: 500, ToPort: 500 }),
        Match.objectLike({ CidrIp: "198.51.100.7/32", IpProtocol: "udp", FromPort: 4500, ToPort: 4500 }),
        Match.objectLike({ CidrIp: "198.51.100.7/32", IpProtocol: "50" }),
        Match.objectLike({ CidrIp: "192.168.10.0/24", IpProtocol: "tcp", FromPort: 2222, ToPort: 2222 }),
      ]),
    });
  });

  it("runs the strongSwan container on the host network with NET_ADMIN, rolling back failed deployments", () => {
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      NetworkMode: "host",
      ContainerDefinitions: [Match.objectLike({ LinuxParameters: { Capabilities: { Add: ["NET_ADMIN"] } } })],
    });
    template.hasResourceProperties("AWS::ECS::Service", {
      ServiceName: "datacenter-vpn",
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 0, MaximumPercent: 100 }),
    });
  });

  it("passes cdk-nag's AwsSolutions pack with no unexplained findings", () => {
    expect(nagFindings()).toEqual([]);
  });
});
