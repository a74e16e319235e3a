// The VPC the proxies run in: public subnets (the strongSwan ENIs and Elastic IPs, the NAT), private
// subnets with egress (the Fargate proxies behind internal NLBs), flow logs on.
import { RemovalPolicy, aws_ec2 as ec2, aws_logs as logs } from "aws-cdk-lib";
import type { StackContext } from "sst/constructs";
import { waiveSstInternals } from "./nag.ts";

/** A plain string (not a token), so security group rules and cdk-nag can read it. */
export const VPC_CIDR = "10.64.0.0/16";

export function Network({ stack }: StackContext) {
  const flowLogs = new logs.LogGroup(stack, "FlowLogs", { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
  const vpc = new ec2.Vpc(stack, "Vpc", {
    ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
    maxAzs: 2,
    natGateways: 1,
    subnetConfiguration: [
      { name: "public", subnetType: ec2.SubnetType.PUBLIC },
      { name: "private", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    ],
    flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs) } },
  });
  // Bundles and runtime documents come from S3 without crossing the NAT.
  vpc.addGatewayEndpoint("S3", { service: ec2.GatewayVpcEndpointAwsService.S3 });
  waiveSstInternals(stack);
  return { vpc };
}
