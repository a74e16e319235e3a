// Deploy-time settings: each checked at synth with a message naming the variable; the optional reserved concurrency.
import { Match, Template } from "aws-cdk-lib/assertions";
import { getStack } from "sst/constructs";
import { describe, expect, it } from "vitest";
import { MAX_RESERVED_CONCURRENCY, checkStage, deploySettings, stageName } from "../../stacks/settings.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { Reconcilers } from "../../stacks/Reconcilers.ts";
import { StrongswanSites } from "../../stacks/StrongswanSites.ts";
import { synth } from "../support/synth.ts";

describe("deploy settings", () => {
  it("by default reserves no concurrency, creates no trail and allows no endpoint principals", () => {
    expect(deploySettings({})).toEqual({ createTrail: false, endpointPrincipals: [], vpnRoutes: false });
  });

  // Reserved concurrency comes out of the account's pool, of which 100 (10 on new accounts, all of their quota) must
  // stay unreserved (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
  it("accepts a reserved concurrency of 1 to 10 and refuses anything else, naming the variable", () => {
    expect(deploySettings({ PROXY_FLEET_RESERVED_CONCURRENCY: "1" }).reservedConcurrency).toBe(1);
    for (const bad of ["0", "1.5", "-1", "one", String(MAX_RESERVED_CONCURRENCY + 1)]) {
      expect(() => deploySettings({ PROXY_FLEET_RESERVED_CONCURRENCY: bad })).toThrow(/PROXY_FLEET_RESERVED_CONCURRENCY="[^"]*": expected an integer from 1 to 10/);
    }
  });

  it("refuses a trail setting other than true/false, and endpoint principals that are not IAM principal ARNs", () => {
    expect(deploySettings({ PROXY_FLEET_CREATE_TRAIL: "true" }).createTrail).toBe(true);
    expect(() => deploySettings({ PROXY_FLEET_CREATE_TRAIL: "yes" })).toThrow(/PROXY_FLEET_CREATE_TRAIL="yes"/);
    expect(deploySettings({ PROXY_FLEET_ENDPOINT_PRINCIPALS: "arn:aws:iam::123456789012:root, arn:aws:iam::210987654321:role/consumer" }).endpointPrincipals)
      .toEqual(["arn:aws:iam::123456789012:root", "arn:aws:iam::210987654321:role/consumer"]);
    expect(() => deploySettings({ PROXY_FLEET_ENDPOINT_PRINCIPALS: "123456789012" })).toThrow(/"123456789012" is not an IAM principal ARN/);
  });

  it("names resources proxy-fleet-<stage>_…, so no stage's names are a prefix of another's", () => {
    expect(stageName("dev", "site")).toBe("proxy-fleet-dev_site");
    expect(stageName("dev-2", "site").startsWith("proxy-fleet-dev_")).toBe(false);
    for (const bad of ["Dev", "dev_2", "", "2dev", "a".repeat(21)]) expect(() => checkStage(bad)).toThrow(/stage ".*": proxy-fleet stages are/);
  });

  // "AWS API Call via CloudTrail" events exist only with a trail
  // (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
  it("PROXY_FLEET_RESERVED_CONCURRENCY=2 reserves 2 per loop; PROXY_FLEET_CREATE_TRAIL=true creates the stage's trail; PROXY_FLEET_VPN_ROUTES=true routes remote subnets to the ENI", async () => {
    Object.assign(process.env, { PROXY_FLEET_RESERVED_CONCURRENCY: "2", PROXY_FLEET_CREATE_TRAIL: "true", PROXY_FLEET_VPN_ROUTES: "true" });
    try {
      const { template, nagFindings } = await synth([ConfigStore, Network, ProxyServices, StrongswanSites, Reconcilers]);
      const sites = Template.fromStack(getStack(StrongswanSites as never));
      // datacenter-vpn's remote subnets (dc1: 192.168.10.0/24, 192.168.20.0/24; dc2: 172.20.0.0/16) in both private route tables, to its AZ-a ENI.
      const routes = Object.values(sites.findResources("AWS::EC2::Route")) as { Properties: { DestinationCidrBlock: string; NetworkInterfaceId: { Ref: string } } }[];
      expect(routes.map((r) => r.Properties.DestinationCidrBlock).sort()).toEqual(["172.20.0.0/16", "172.20.0.0/16", "192.168.10.0/24", "192.168.10.0/24", "192.168.20.0/24", "192.168.20.0/24"]);
      for (const route of routes) expect(route.Properties.NetworkInterfaceId.Ref).toMatch(/^DatacenterVpnEni0/);
      sites.hasResourceProperties("AWS::AutoScaling::AutoScalingGroup", { AutoScalingGroupName: "proxy-fleet-test_datacenter-vpn", VPCZoneIdentifier: [Match.anyValue()] });
      sites.hasResourceProperties("AWS::AutoScaling::AutoScalingGroup", { AutoScalingGroupName: "proxy-fleet-test_partner-forward", VPCZoneIdentifier: [Match.anyValue(), Match.anyValue()] });
      template.hasResourceProperties("AWS::CloudTrail::Trail", { TrailName: "proxy-fleet-test_route53-events", IsMultiRegionTrail: true, IncludeGlobalServiceEvents: true });
      expect(template.toJSON().Outputs.Route53Events.Value).toBe("CloudTrail trail proxy-fleet-test_route53-events");
      expect(nagFindings()).toEqual([]);
      const loops = template.findResources("AWS::Lambda::Function", { Properties: { Description: Match.stringLikeRegexp("^proxy-fleet test (DNS sync|config rollout|rollout watch|task targets)") } });
      expect(Object.keys(loops)).toHaveLength(4);
      for (const fn of Object.values(loops)) expect((fn as { Properties: { ReservedConcurrentExecutions: number } }).Properties.ReservedConcurrentExecutions).toBe(2);
    } finally {
      delete process.env.PROXY_FLEET_RESERVED_CONCURRENCY;
      delete process.env.PROXY_FLEET_CREATE_TRAIL;
      delete process.env.PROXY_FLEET_VPN_ROUTES;
    }
  }, 180_000);
});
