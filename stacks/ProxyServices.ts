// The HAProxy, NGINX and Squid services of the config repository named by PROXY_FLEET_CONFIG_DIR, each a
// Fargate service behind an internal NLB (one listener per port), rolled out with the circuit breaker and
// rollback; Squid also offered to other VPCs through a PrivateLink endpoint service. The bundles rendered
// at deploy time are shipped and pinned, so the first tasks start with a verified config; from then on the
// config-rollout loop registers new revisions and updates these services without a deploy.
import {
  Duration, RemovalPolicy, aws_ec2 as ec2, aws_ecs as ecs, aws_elasticloadbalancingv2 as elbv2, aws_logs as logs, aws_s3 as s3,
  aws_s3_deployment as s3deploy, aws_iam as iam,
} from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";
import { use, type StackContext } from "sst/constructs";
import { bundleKey } from "../functions/aws/config-bucket.ts";
import { listenPorts } from "../functions/fleet/listeners.ts";
import { renderFleet } from "../functions/render/bundle.ts";
import type { EcsTarget } from "../functions/rollout/ports.ts";
import { ConfigStore } from "./ConfigStore.ts";
import { constructId, deployedFleet, grantAgentReads, proxyImage } from "./deployed.ts";
import { Network, VPC_CIDR } from "./Network.ts";
import { waiveSstInternals } from "./nag.ts";

export const HEALTH_PORT = 8081;

export async function ProxyServices({ stack }: StackContext) {
  const { bundles } = use(ConfigStore);
  const { vpc } = use(Network);
  const model = await deployedFleet();
  const services = model.services.filter((s) => s.kind !== "strongswan");
  const rendered = renderFleet(model).bundles.filter((b) => services.some((s) => s.name === b.service));
  const initialBundles = new s3deploy.BucketDeployment(stack, "InitialBundles", {
    destinationBucket: bundles,
    sources: rendered.map((b) => s3deploy.Source.jsonData(bundleKey(b.service, b.hash), b)),
    prune: false,
    retainOnDelete: true,
  });

  const cluster = new ecs.Cluster(stack, "Cluster", { vpc, clusterName: `proxy-fleet-${stack.stage}`, containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const accessLogs = new s3.Bucket(stack, "LoadBalancerLogs", {
    encryption: s3.BucketEncryption.S3_MANAGED, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, enforceSSL: true,
    lifecycleRules: [{ expiration: Duration.days(90) }], removalPolicy: RemovalPolicy.RETAIN,
  });

  const ecsServices: Record<string, EcsTarget> = {};
  for (const service of services) {
    const id = constructId(service.name);
    const bundle = rendered.find((b) => b.service === service.name)!;
    const ports = listenPorts(service);

    const task = new ecs.FargateTaskDefinition(stack, `${id}Task`, { cpu: 512, memoryLimitMiB: 1024 });
    grantAgentReads(task, bundles, service.name);
    task.addContainer("proxy", {
      image: proxyImage(service.kind),
      environment: {
        CONFIG_BUCKET: bundles.bucketName,
        PROXY_FLEET_SERVICE: service.name,
        PROXY_FLEET_BUNDLE_KEY: bundleKey(bundle.service, bundle.hash),
        PROXY_FLEET_BUNDLE_HASH: bundle.hash,
        PROXY_FLEET_COMMIT: "deploy",
      },
      portMappings: [...ports, HEALTH_PORT].map((containerPort) => ({ containerPort })),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: service.name, logRetention: logs.RetentionDays.ONE_MONTH }),
    });

    const securityGroup = new ec2.SecurityGroup(stack, `${id}Tasks`, { vpc, description: `proxy-fleet ${service.name} tasks` });
    for (const port of [...ports, HEALTH_PORT]) securityGroup.addIngressRule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(port), `NLB to ${port}`);
    const fargate = new ecs.FargateService(stack, `${id}Service`, {
      cluster, serviceName: service.name, taskDefinition: task, desiredCount: 2,
      minHealthyPercent: 100, maxHealthyPercent: 200, circuitBreaker: { enable: true, rollback: true },
      securityGroups: [securityGroup], vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
    fargate.node.addDependency(initialBundles);

    const nlb = new elbv2.NetworkLoadBalancer(stack, `${id}Nlb`, { vpc, internetFacing: false, crossZoneEnabled: true });
    nlb.logAccessLogs(accessLogs, service.name);
    for (const port of ports) {
      nlb.addListener(`Port${port}`, { port, protocol: elbv2.Protocol.TCP }).addTargets(`Port${port}`, {
        port,
        protocol: elbv2.Protocol.TCP,
        targets: [fargate.loadBalancerTarget({ containerName: "proxy", containerPort: port })],
        healthCheck: { protocol: elbv2.Protocol.HTTP, port: String(HEALTH_PORT), path: "/healthz" },
        proxyProtocolV2: service.kind === "nginx" && service.proxyProtocol?.enabled === true,
        deregistrationDelay: Duration.seconds(30),
      });
    }
    if (service.kind === "squid") {
      new ec2.VpcEndpointService(stack, `${id}EndpointService`, {
        vpcEndpointServiceLoadBalancers: [nlb],
        acceptanceRequired: true,
        allowedPrincipals: (process.env.PROXY_FLEET_ENDPOINT_PRINCIPALS ?? "").split(",").filter(Boolean).map((arn) => new iam.ArnPrincipal(arn)),
      });
    }
    ecsServices[service.name] = { cluster: cluster.clusterName, service: service.name, container: "proxy" };
  }

  NagSuppressions.addStackSuppressions(stack, [
    { id: "AwsSolutions-ECS2", reason: "Only non-secret settings (bucket, service, pinned bundle) are passed as environment." },
    { id: "AwsSolutions-IAM5", reason: "Bundles are content-addressed (bundles/*); CDK's bucket-deployment and log policies are CDK's." },
    { id: "AwsSolutions-IAM4", reason: "CDK's bucket-deployment Lambda uses the AWS managed basic execution role." },
    { id: "AwsSolutions-L1", reason: "CDK's bucket-deployment Lambda pins its runtime." },
    { id: "AwsSolutions-S1", reason: "This bucket receives the load balancers' access logs; logging it again would recurse." },
  ]);
  waiveSstInternals(stack);
  return { cluster, ecsServices };
}
