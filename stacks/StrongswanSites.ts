// strongSwan sites: ECS on EC2 (IPsec needs NET_ADMIN and the kernel's xfrm), one instance per service at a
// time from an Auto Scaling group, with a persistent ENI per availability zone and an Elastic IP that outlive
// any instance. The launch lifecycle hook is part of the group's creation, so even the very first instance
// waits in Pending:Wait until the instance-heal loop has attached its ENI.
import { Duration, RemovalPolicy, Tags, aws_autoscaling as autoscaling, aws_ec2 as ec2, aws_ecs as ecs, aws_iam as iam, aws_logs as logs } from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";
import type { StackContext } from "sst/constructs";
import { use } from "sst/constructs";
import type { ServiceModelOf } from "../functions/fleet/load.ts";
import { SERVICE_TAG } from "../functions/heal/ports.ts";
import type { EcsTarget } from "../functions/rollout/ports.ts";
import { ConfigStore } from "./ConfigStore.ts";
import { constructId, deployedFleet, grantAgentReads, proxyImage } from "./deployed.ts";
import { Network } from "./Network.ts";
import { waiveSstInternals } from "./nag.ts";

export const LIFECYCLE_HOOK = "attach-persistent-eni";

export async function StrongswanSites({ stack }: StackContext) {
  const { bundles } = use(ConfigStore);
  const { vpc } = use(Network);
  const cluster = new ecs.Cluster(stack, "Cluster", { vpc, clusterName: `proxy-fleet-${stack.stage}-strongswan`, containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const ecsServices: Record<string, EcsTarget> = {};

  const groups: Record<string, autoscaling.AutoScalingGroup> = {};
  const services = (await deployedFleet()).services.filter((s): s is ServiceModelOf<"strongswan"> => s.kind === "strongswan");
  for (const service of services) {
    const name = service.name;
    const id = constructId(name);
    const securityGroup = new ec2.SecurityGroup(stack, `${id}Peers`, { vpc, description: `proxy-fleet ${name}: IPsec peers and forwarded ports` });
    if (!service.noIpsec) {
      for (const connection of service.connections) {
        const peer = ec2.Peer.ipv4(`${connection.remote.address}/32`);
        securityGroup.addIngressRule(peer, ec2.Port.udp(500), `IKE from ${connection.name}`);
        securityGroup.addIngressRule(peer, ec2.Port.udp(4500), `NAT-T from ${connection.name}`);
        securityGroup.addIngressRule(peer, new ec2.Port({ protocol: ec2.Protocol.ESP, stringRepresentation: "ESP" }), `ESP from ${connection.name}`);
      }
    }
    for (const rule of service.rules) {
      for (const source of Object.values(rule.portForward ?? {})) {
        for (const from of rule.from.filter((f) => f.includes("/"))) {
          for (const protocol of rule.protocols.filter((p) => p === "tcp" || p === "udp")) {
            securityGroup.addIngressRule(ec2.Peer.ipv4(from), protocol === "tcp" ? ec2.Port.tcp(source) : ec2.Port.udp(source), `${rule.name} port forward`);
          }
        }
      }
    }

    // The persistent ENIs (one per AZ) and the Elastic IP the heal loop moves onto each new instance.
    vpc.publicSubnets.forEach((subnet, i) => {
      const eni = new ec2.CfnNetworkInterface(stack, `${id}Eni${i}`, {
        subnetId: subnet.subnetId, groupSet: [securityGroup.securityGroupId], sourceDestCheck: false,
        description: `proxy-fleet ${name} persistent ENI (${subnet.availabilityZone})`,
        tags: [{ key: SERVICE_TAG, value: name }],
      });
      eni.applyRemovalPolicy(RemovalPolicy.RETAIN);
    });
    const eip = new ec2.CfnEIP(stack, `${id}Eip`, { domain: "vpc", tags: [{ key: SERVICE_TAG, value: name }] });
    eip.applyRemovalPolicy(RemovalPolicy.RETAIN);

    const role = new iam.Role(stack, `${id}InstanceRole`, { assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com") });
    const group = new autoscaling.AutoScalingGroup(stack, `${id}Group`, {
      autoScalingGroupName: `proxy-fleet-${stack.stage}-${name}`,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate: new ec2.LaunchTemplate(stack, `${id}LaunchTemplate`, {
        machineImage: ecs.EcsOptimizedImage.amazonLinux2023(),
        instanceType: new ec2.InstanceType("t4g.small"),
        role,
        securityGroup,
        requireImdsv2: true,
        userData: ec2.UserData.forLinux(),
        blockDevices: [{ deviceName: "/dev/xvda", volume: ec2.BlockDeviceVolume.ebs(30, { encrypted: true }) }],
      }),
      minCapacity: 1,
      maxCapacity: 1,
      healthCheck: autoscaling.HealthCheck.ec2({ grace: Duration.minutes(5) }),
    });
    Tags.of(group).add(SERVICE_TAG, name, { applyToLaunchedInstances: true });
    // Part of the group's creation: a hook added afterwards would miss the very first launch.
    (group.node.defaultChild as autoscaling.CfnAutoScalingGroup).lifecycleHookSpecificationList = [{
      lifecycleHookName: LIFECYCLE_HOOK,
      lifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING",
      heartbeatTimeout: 300,
      defaultResult: "ABANDON",
    }];
    // ECS managed draining empties an instance before it goes; no extra CDK drain hook (Lambda + SNS) is needed.
    cluster.addAsgCapacityProvider(
      new ecs.AsgCapacityProvider(stack, `${id}Capacity`, { autoScalingGroup: group, enableManagedTerminationProtection: false, enableManagedDraining: true }),
    );

    const task = new ecs.Ec2TaskDefinition(stack, `${id}Task`, { networkMode: ecs.NetworkMode.HOST });
    grantAgentReads(task, bundles, name);
    task.addToTaskRolePolicy(new iam.PolicyStatement({
      actions: ["ssm:GetParameter", "secretsmanager:GetSecretValue"],
      resources: ["*"],
      conditions: { StringEquals: { "aws:ResourceTag/proxy-fleet:service": name } },
    }));
    const container = task.addContainer("proxy", {
      image: proxyImage("strongswan"),
      memoryReservationMiB: 256,
      linuxParameters: new ecs.LinuxParameters(stack, `${id}Linux`, {}),
      environment: { CONFIG_BUCKET: bundles.bucketName, PROXY_FLEET_SERVICE: name },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: name, logRetention: logs.RetentionDays.ONE_MONTH }),
    });
    container.linuxParameters!.addCapabilities(ecs.Capability.NET_ADMIN);
    new ecs.Ec2Service(stack, `${id}Service`, {
      cluster,
      serviceName: name,
      taskDefinition: task,
      desiredCount: 1,
      // One host, host networking: the old task stops before the new one starts.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: true },
    });
    groups[name] = group;
    ecsServices[name] = { cluster: cluster.clusterName, service: name, container: "proxy" };
  }

  NagSuppressions.addStackSuppressions(stack, [
    { id: "AwsSolutions-EC23", reason: "IKE, NAT-T and ESP must be reachable by the configured peers; rules are per peer address." },
    { id: "AwsSolutions-AS3", reason: "Scaling events reach the instance-heal loop through EventBridge, not SNS notifications." },
    { id: "AwsSolutions-IAM5", reason: "Bundles are content-addressed (bundles/*); key lookups are limited by the service tag; the ECS agent's log and capacity provider policies are CDK's." },
    { id: "AwsSolutions-IAM4", reason: "The ECS container instance role uses the AWS managed AmazonEC2ContainerServiceforEC2Role, as ECS documents." },
    { id: "AwsSolutions-ECS2", reason: "Only non-secret settings (bucket, service name) are passed as environment; keys come from SSM / Secrets Manager." },
    { id: "AwsSolutions-L1", reason: "CDK's capacity-provider draining hook Lambda pins its runtime." },
  ]);
  waiveSstInternals(stack);
  return { cluster, groups, ecsServices };
}
