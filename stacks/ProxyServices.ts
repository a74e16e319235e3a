// The HAProxy, NGINX and Squid services of the config repository named by PROXY_FLEET_CONFIG_DIR, each a
// Fargate service behind an internal NLB (one listener per port), rolled out with the circuit breaker and
// rollback; Squid also offered to other VPCs through a PrivateLink endpoint service. The bundles rendered
// at deploy time are shipped and pinned, so the first tasks start with a verified config; from then on the
// config-rollout loop registers new revisions and updates these services without a deploy.
//
// Listeners: an ECS service may have at most 5 load-balancer target groups
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html), an NLB up to 50
// listeners (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html). So each
// service keeps ONE native target group (its first listener's: ECS health and the circuit breaker see the NLB),
// and every other listener's target group (type ip) is kept equal to the service's running task IPs by the
// task-targets loop (TASK_TARGET_GROUPS).
//
// Client addresses: IP targets behind TCP listeners see the NLB's address, not the client's
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#client-ip-preservation),
// and preservation does not apply through PrivateLink; so every target group sends PROXY protocol v2, and the
// agent requires it from, and trusts only, the NLB's subnets (PROXY_FLEET_PROXY_PROTOCOL_FROM).
import { Duration, aws_ec2 as ec2, aws_ecs as ecs, aws_elasticloadbalancingv2 as elbv2, aws_iam as iam, aws_logs as logs, aws_s3_deployment as s3deploy } from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";
import { use, type StackContext } from "sst/constructs";
import { bundleKey } from "../functions/aws/config-bucket.ts";
import { AGENT_HEALTH_PORT, listenPorts } from "../functions/fleet/listeners.ts";
import { renderFleet } from "../functions/render/bundle.ts";
import type { EcsTarget } from "../functions/rollout/ports.ts";
import { ConfigStore } from "./ConfigStore.ts";
import {
  CONTAINER_HEALTH_CHECK, CONTAINER_STOP_TIMEOUT, TASK_PLATFORM, constructId, deployedFleet, grantAgentReads, proxyImage,
} from "./deployed.ts";
import { Network } from "./Network.ts";
import { bundlePins } from "./pins.ts";
import { waiveSstInternals } from "./nag.ts";
import { deploySettings, proxyClusterName, stageName } from "./settings.ts";

/** The agent's health endpoint: one constant, shared with validation (a listener may not take it). */
export const HEALTH_PORT = AGENT_HEALTH_PORT;

/** One service's listener target groups that the task-targets loop keeps (TASK_TARGET_GROUPS). */
export interface TaskTargetGroups {
  readonly cluster: string;
  readonly service: string;
  readonly targetGroups: { readonly arn: string; readonly port: number }[];
}

export async function ProxyServices({ stack }: StackContext) {
  const { bundles, state, repository, trackedBranch } = use(ConfigStore);
  const { vpc } = use(Network);
  const stage = stack.stage;
  const model = await deployedFleet();
  const services = model.services.filter((s) => s.kind !== "strongswan");
  const rendered = renderFleet(model).bundles.filter((b) => services.some((s) => s.name === b.service));
  const initialBundles = new s3deploy.BucketDeployment(stack, "InitialBundles", {
    destinationBucket: bundles,
    sources: rendered.map((b) => s3deploy.Source.jsonData(bundleKey(b.service, b.hash), b)),
    prune: false,
    retainOnDelete: true,
  });

  const pin = bundlePins(stack, { bundles, state, stateKey: `${repository.repositoryName}#${trackedBranch}` });
  const cluster = new ecs.Cluster(stack, "Cluster", { vpc, clusterName: proxyClusterName(stage), containerInsightsV2: ecs.ContainerInsights.ENABLED });
  // The NLBs live in the private subnets; their addresses there are the only PROXY v2 senders a task trusts.
  const nlbSubnets = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
  const nlbCidrs = nlbSubnets.subnets.map((s) => s.ipv4CidrBlock);

  const ecsServices: Record<string, EcsTarget> = {};
  const taskTargetGroups: TaskTargetGroups[] = [];
  const reconciledTargetGroups: elbv2.NetworkTargetGroup[] = [];
  const taskRoles: iam.IRole[] = [];
  /** Per service its NLB and every listener's target group (the Operations stack alarms on their health). */
  const loadBalancers: Record<string, { nlb: elbv2.NetworkLoadBalancer; targetGroups: elbv2.NetworkTargetGroup[] }> = {};
  for (const service of services) {
    const id = constructId(service.name);
    const bundle = rendered.find((b) => b.service === service.name)!;
    // The accepted bundle if the rollout loop has deployed one, else this deploy's (a redeploy never reverts).
    const pinned = pin(service.name, id, bundle.hash);
    const ports = listenPorts(service);

    const task = new ecs.FargateTaskDefinition(stack, `${id}Task`, { family: stageName(stage, service.name), cpu: 512, memoryLimitMiB: 1024, runtimePlatform: TASK_PLATFORM });
    grantAgentReads(task, bundles, service.name);
    taskRoles.push(task.taskRole, task.obtainExecutionRole());
    task.addContainer("proxy", {
      image: proxyImage(service.kind),
      environment: {
        CONFIG_BUCKET: bundles.bucketName,
        PROXY_FLEET_SERVICE: service.name,
        PROXY_FLEET_BUNDLE_KEY: pinned.key,
        PROXY_FLEET_BUNDLE_HASH: pinned.hash,
        PROXY_FLEET_COMMIT: pinned.commit,
        PROXY_FLEET_PROXY_PROTOCOL_FROM: nlbCidrs.join(","),
      },
      portMappings: [...ports, HEALTH_PORT].map((containerPort) => ({ containerPort })),
      healthCheck: CONTAINER_HEALTH_CHECK,
      stopTimeout: CONTAINER_STOP_TIMEOUT,
      linuxParameters: new ecs.LinuxParameters(stack, `${id}Linux`, { initProcessEnabled: true }),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: service.name, logRetention: logs.RetentionDays.ONE_MONTH }),
    });

    const securityGroup = new ec2.SecurityGroup(stack, `${id}Tasks`, { vpc, description: `proxy-fleet ${stage} ${service.name} tasks` });
    for (const cidr of nlbCidrs) {
      for (const port of [...ports, HEALTH_PORT]) securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), `NLB subnet ${cidr} to ${port}`);
    }
    const fargate = new ecs.FargateService(stack, `${id}Service`, {
      cluster, serviceName: service.name, taskDefinition: task, desiredCount: 2,
      minHealthyPercent: 100, maxHealthyPercent: 200, circuitBreaker: { enable: true, rollback: true },
      securityGroups: [securityGroup], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
    // The deploy-time bundle is in the bucket before the pin may choose it and before any task starts.
    fargate.node.addDependency(initialBundles);

    // Access logs are written for TLS listeners only; these are TCP, so a log bucket would stay empty
    // (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-access-logs.html).
    const nlb = new elbv2.NetworkLoadBalancer(stack, `${id}Nlb`, { vpc, vpcSubnets: { subnets: nlbSubnets.subnets }, internetFacing: false, crossZoneEnabled: true });
    NagSuppressions.addResourceSuppressions(nlb, [{ id: "AwsSolutions-ELB2", reason: "TCP listeners only: NLB access logs cover TLS listeners, so the log would stay empty." }]);
    const reconciled: TaskTargetGroups["targetGroups"] = [];
    const listenerGroups: elbv2.NetworkTargetGroup[] = [];
    loadBalancers[service.name] = { nlb, targetGroups: listenerGroups };
    ports.forEach((port, i) => {
      const targetGroupProps = {
        port,
        protocol: elbv2.Protocol.TCP,
        healthCheck: { protocol: elbv2.Protocol.HTTP, port: String(HEALTH_PORT), path: "/healthz" },
        proxyProtocolV2: true,
        deregistrationDelay: Duration.seconds(30),
      };
      const listener = nlb.addListener(`Port${port}`, { port, protocol: elbv2.Protocol.TCP });
      if (i === 0) {
        listenerGroups.push(listener.addTargets(`Port${port}`, { ...targetGroupProps, targets: [fargate.loadBalancerTarget({ containerName: "proxy", containerPort: port })] }));
        return;
      }
      const targetGroup = new elbv2.NetworkTargetGroup(stack, `${id}Port${port}Targets`, { ...targetGroupProps, vpc, targetType: elbv2.TargetType.IP });
      listener.addTargetGroups(`Port${port}`, targetGroup);
      listenerGroups.push(targetGroup);
      reconciled.push({ arn: targetGroup.targetGroupArn, port });
      reconciledTargetGroups.push(targetGroup);
    });
    if (reconciled.length > 0) {
      const clusterArn = stack.formatArn({ service: "ecs", resource: "cluster", resourceName: proxyClusterName(stage) });
      taskTargetGroups.push({ cluster: clusterArn, service: service.name, targetGroups: reconciled });
    }
    if (service.kind === "squid") {
      new ec2.VpcEndpointService(stack, `${id}EndpointService`, {
        vpcEndpointServiceLoadBalancers: [nlb],
        acceptanceRequired: true,
        allowedPrincipals: deploySettings().endpointPrincipals.map((arn) => new iam.ArnPrincipal(arn)),
      });
    }
    ecsServices[service.name] = { cluster: cluster.clusterName, service: service.name, container: "proxy" };
  }

  NagSuppressions.addStackSuppressions(stack, [
    { id: "AwsSolutions-ECS2", reason: "Only non-secret settings (bucket, service, pinned bundle, trusted PROXY senders) are passed as environment." },
    { id: "AwsSolutions-IAM4", reason: "CDK's bucket-deployment Lambda uses the AWS managed basic execution role." },
    { id: "AwsSolutions-L1", reason: "CDK's bucket-deployment Lambda pins its runtime." },
  ]);
  NagSuppressions.addStackSuppressions(stack, [{
    id: "AwsSolutions-IAM5",
    reason: "Bundles are content-addressed (bundles/*), runtime documents per service (runtime/<service>/*); CDK's bucket-deployment and log policies are CDK's.",
    appliesTo: [
      { regex: "/^Resource::.*Bundles.*\\/(bundles|runtime\\/[a-z0-9-]+)\\/\\*$/" },
      { regex: "/^Resource::.*Bundles[^/]*\\/\\*$/" },
      { regex: "/^Action::s3:(GetObject|GetBucket|List|Abort|DeleteObject)\\*$/" },
      { regex: "/^Resource::(\\*|arn:<AWS::Partition>:s3:::cdk-.*|.*Bundles.*\\.Arn>\\/\\*)$/" },
    ],
  }]);
  waiveSstInternals(stack);
  return { cluster, ecsServices, taskTargetGroups, reconciledTargetGroups, taskRoles, loadBalancers };
}
