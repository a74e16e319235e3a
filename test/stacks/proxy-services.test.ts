// The proxy services stack for the example config, synthesized and checked with cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { loadExample } from "../support/fixtures.ts";
import { renderFleet } from "../../functions/render/bundle.ts";

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

  it("pins the bundle rendered at deploy time, and ships it", async () => {
    const egress = renderFleet(await loadExample()).bundles.find((b) => b.service === "egress")!;
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      ContainerDefinitions: [Match.objectLike({
        Environment: Match.arrayWith([
          { Name: "PROXY_FLEET_BUNDLE_KEY", Value: `bundles/egress/${egress.hash.replace(":", "-")}.json` },
          { Name: "PROXY_FLEET_BUNDLE_HASH", Value: egress.hash },
        ]),
      })],
    });
    template.resourceCountIs("Custom::CDKBucketDeployment", 1);
  });

  it("puts an internal NLB listener in front of every port, health-checked on the agent, PROXY v2 for NGINX", () => {
    template.resourceCountIs("AWS::ElasticLoadBalancingV2::LoadBalancer", 3);
    for (const port of [5432, 636, 3270, 443, 80, 3128]) {
      template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: port, Protocol: "TCP" });
    }
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
      Port: 443, HealthCheckPath: "/healthz", HealthCheckPort: "8081", HealthCheckProtocol: "HTTP",
      TargetGroupAttributes: Match.arrayWith([{ Key: "proxy_protocol_v2.enabled", Value: "true" }]),
    });
  });

  it("offers Squid to other VPCs through PrivateLink, accepting connections by hand", () => {
    template.hasResourceProperties("AWS::EC2::VPCEndpointService", { AcceptanceRequired: true });
  });

  it("passes cdk-nag's AwsSolutions pack with no unexplained findings", () => {
    expect(nagFindings()).toEqual([]);
  });
});
