// The proxy services stack for the example config, synthesized and checked with cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { loadExample } from "../support/fixtures.ts";
import { renderFleet } from "../../functions/render/bundle.ts";

/** The private subnets Network builds (10.64.0.0/16, two AZs): where the NLBs live. */
const PRIVATE_SUBNETS = ["10.64.128.0/18", "10.64.192.0/18"];

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore, Network, ProxyServices]));
}, 180_000);

describe("ProxyServices (examples/: onprem-router, lattice-ingress, egress)", () => {
  it("runs one Fargate service per proxy service, rolling with the circuit breaker, never replaced", () => {
    template.resourceCountIs("AWS::ECS::Service", 3);
    template.hasResourceProperties("AWS::ECS::Service", {
      ServiceName: "egress",
      LaunchType: "FARGATE",
      DesiredCount: 2,
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100, MaximumPercent: 200 }),
    });
  });

  it("ships the deploy-time bundle and pins what the deploy-time pin answers (the accepted bundle once there is one)", async () => {
    const egress = renderFleet(await loadExample()).bundles.find((b) => b.service === "egress")!;
    template.hasResourceProperties("Custom::ProxyFleetBundlePin", {
      Service: "egress", DeployKey: `bundles/egress/${egress.hash.replace(":", "-")}.json`, DeployHash: egress.hash,
      StateKey: Match.objectLike({}), Nonce: Match.anyValue(),
    });
    const pins = Object.keys(template.findResources("Custom::ProxyFleetBundlePin", { Properties: { Service: "egress" } }));
    expect(pins).toHaveLength(1);
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      Family: "proxy-fleet-test_egress",
      ContainerDefinitions: [Match.objectLike({
        Environment: Match.arrayWith([
          { Name: "PROXY_FLEET_BUNDLE_KEY", Value: { "Fn::GetAtt": [pins[0], "Key"] } },
          { Name: "PROXY_FLEET_BUNDLE_HASH", Value: { "Fn::GetAtt": [pins[0], "Hash"] } },
          { Name: "PROXY_FLEET_COMMIT", Value: { "Fn::GetAtt": [pins[0], "Commit"] } },
        ]),
      })],
    });
    template.resourceCountIs("Custom::CDKBucketDeployment", 1);
  });

  it("puts an internal NLB listener in front of every port, health-checked on the agent", () => {
    template.resourceCountIs("AWS::ElasticLoadBalancingV2::LoadBalancer", 3);
    for (const port of [5432, 636, 3270, 443, 80, 3128]) {
      template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: port, Protocol: "TCP" });
      template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
        Port: port, TargetType: "ip", HealthCheckPath: "/healthz", HealthCheckPort: "8081", HealthCheckProtocol: "HTTP",
      });
    }
  });

  // IP targets behind TCP listeners see the NLB's address, and client-IP preservation does not cross PrivateLink
  // (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#client-ip-preservation):
  // PROXY v2 on every target group, and only the NLB's subnets may send it or reach the tasks at all.
  it("sends PROXY v2 on every target group and tells the tasks to trust only the NLB's subnets", () => {
    const groups = Object.values(template.findResources("AWS::ElasticLoadBalancingV2::TargetGroup"));
    expect(groups).toHaveLength(6);
    for (const group of groups) {
      expect((group as { Properties: { TargetGroupAttributes: unknown[] } }).Properties.TargetGroupAttributes)
        .toContainEqual({ Key: "proxy_protocol_v2.enabled", Value: "true" });
    }
    const tasks = Object.values(template.findResources("AWS::ECS::TaskDefinition")) as { Properties: { ContainerDefinitions: { Environment: { Name: string; Value: string }[] }[] } }[];
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      const from = task.Properties.ContainerDefinitions[0]!.Environment.find((e) => e.Name === "PROXY_FLEET_PROXY_PROTOCOL_FROM")?.Value;
      expect(from).toBe(PRIVATE_SUBNETS.join(","));
    }
    const ingress = Object.values(template.findResources("AWS::EC2::SecurityGroup")).flatMap((g) => (g as { Properties: { SecurityGroupIngress?: { CidrIp: string }[] } }).Properties.SecurityGroupIngress ?? []);
    expect(ingress.length).toBeGreaterThan(0);
    expect(new Set(ingress.map((rule) => rule.CidrIp))).toEqual(new Set(PRIVATE_SUBNETS));
  });

  // An ECS service takes at most 5 load-balancer target groups
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html).
  it("attaches one target group to each ECS service; the task-targets loop keeps the others", () => {
    for (const service of Object.values(template.findResources("AWS::ECS::Service"))) {
      expect((service as { Properties: { LoadBalancers: unknown[] } }).Properties.LoadBalancers).toHaveLength(1);
    }
  });

  // Fargate runs x86_64 unless the task says otherwise; an image built on arm64 without a platform would not start.
  it("pins every task to linux/x86_64, with the ECS health check, an init process and a stop timeout", () => {
    template.allResourcesProperties("AWS::ECS::TaskDefinition", {
      RuntimePlatform: { CpuArchitecture: "X86_64", OperatingSystemFamily: "LINUX" },
      ContainerDefinitions: [Match.objectLike({
        HealthCheck: { Command: ["CMD", "/usr/local/bin/proxy-fleet-healthcheck"], Interval: 10, Timeout: 5, Retries: 3, StartPeriod: 30 },
        LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
        StopTimeout: 30,
      })],
    });
  });

  // NLB access logs are written for TLS listeners only
  // (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-access-logs.html).
  it("keeps no access-log bucket for TCP-only load balancers", () => {
    template.resourceCountIs("AWS::S3::Bucket", 0);
  });

  it("offers Squid to other VPCs through PrivateLink, accepting connections by hand", () => {
    template.hasResourceProperties("AWS::EC2::VPCEndpointService", { AcceptanceRequired: true });
  });

  it("passes cdk-nag's AwsSolutions pack with no unexplained findings", () => {
    expect(nagFindings()).toEqual([]);
  });
});
