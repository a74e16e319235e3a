// strongSwan sites: ECS on EC2 (IPsec needs NET_ADMIN and the kernel's xfrm), one instance per service at a
// time from its own Auto Scaling group and capacity provider, with a persistent ENI per availability zone and an
// Elastic IP that outlive any instance. The instance-heal loop lives here too, created before any group: the
// launch lifecycle hook is part of each group's creation, so even the very first instance waits in
// Pending:Wait, and its launch event finds the rule and the Lambda already there.
import {
  ArnFormat, Duration, Tags, aws_autoscaling as autoscaling, aws_ec2 as ec2, aws_ecs as ecs, aws_events as events,
  aws_iam as iam, aws_logs as logs, aws_s3_deployment as s3deploy,
} from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";
import type { Stack as SstStack, StackContext } from "sst/constructs";
import { use } from "sst/constructs";
import { bundleKey } from "../functions/aws/config-bucket.ts";
import type { ServiceModelOf } from "../functions/fleet/load.ts";
import { HEAL_TIMEOUT_SECONDS, LEAVING_STATES, LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS } from "../functions/heal/heal.ts";
import { renderFleet } from "../functions/render/bundle.ts";
import type { EcsTarget } from "../functions/rollout/ports.ts";
import { secretName, secretReferenceFor } from "../functions/fleet/secrets.ts";
import { ConfigStore } from "./ConfigStore.ts";
import {
  CONTAINER_HEALTH_CHECK, CONTAINER_STOP_TIMEOUT, constructId, deployedFleet, grantAgentReads, proxyImage,
} from "./deployed.ts";
import { loopFunction } from "./loops.ts";
import { Network } from "./Network.ts";
import { bundlePins } from "./pins.ts";
import { stageScoped, waiveFunctionFindings, waiveSstInternals } from "./nag.ts";
import {
  SERVICE_TAG, STAGE_TAG, deploySettings, secretPath, stageName, stagePrefix, strongswanClusterName, warmPoolState, type WarmPoolState,
} from "./settings.ts";

export const LIFECYCLE_HOOK = "attach-persistent-eni";
/**
 * x86_64, matching the x86_64 ECS-optimized AMI and the linux/amd64 image. Graviton families (t4g, c7g, …) need
 * the arm64 AMI (EcsOptimizedImage.amazonLinux2023(AmiHardwareType.ARM)) and arm64 images
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-optimized_AMI.html).
 */
export const STRONGSWAN_INSTANCE_TYPE = "t3.small";
/** Instances kept in each site's warm pool: one, so a replacement never needs a cold launch. */
export const WARM_POOL_MIN_SIZE = 1;
/** The ECS agent setting that keeps a warming instance out of the cluster until it enters service. */
export const ECS_WARM_POOLS_CHECK = "ECS_WARM_POOLS_CHECK=true";
/**
 * The agent starts a task from the image already on the host when there is one (the warm instance pulled it):
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pull-behavior.html. Image tags are content hashes
 * (CDK assets), so a cached image is never a stale one.
 */
export const ECS_IMAGE_PULL_BEHAVIOR = "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached";
/** cloud-config that makes cloud-init run the user-data script on every boot, not only the first. */
export const USER_DATA_EVERY_BOOT = "#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n";

/** The warm pool's state for each setting of PROXY_FLEET_WARM_POOL. */
export const POOL_STATES: Record<WarmPoolState, autoscaling.PoolState> = { running: autoscaling.PoolState.RUNNING, stopped: autoscaling.PoolState.STOPPED };

/**
 * Host metrics: the CloudWatch agent publishes these in namespace CWAgent, aggregated by AutoScalingGroupName
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html:
 * a measurement is published as <section>_<measurement>; aggregation_dimensions rolls it up by the group).
 */
export const HOST_METRICS_NAMESPACE = "CWAgent";
export const HOST_METRICS = { memory: "mem_used_percent", disk: "disk_used_percent", swap: "swap_used_percent" } as const;

/** The CloudWatch agent's configuration on every strongSwan host: memory, swap and the root file system, per minute. */
export function hostMetricsAgentConfig() {
  return {
    agent: { metrics_collection_interval: 60, omit_hostname: true },
    metrics: {
      namespace: HOST_METRICS_NAMESPACE,
      append_dimensions: { AutoScalingGroupName: "${aws:AutoScalingGroupName}" },
      aggregation_dimensions: [["AutoScalingGroupName"]],
      metrics_collected: {
        mem: { measurement: ["used_percent"] },
        swap: { measurement: ["used_percent"] },
        disk: { measurement: ["used_percent"], resources: ["/"], drop_device: true },
      },
    },
  };
}

/** Where the host scripts and the agent's configuration live on the instance. */
export const HOST_PATHS = {
  agentConfig: "/opt/aws/amazon-cloudwatch-agent/etc/proxy-fleet.json",
  hostMetrics: "/usr/local/bin/proxy-fleet-host-metrics",
  warmPool: "/usr/local/bin/proxy-fleet-warm-pool",
} as const;

/**
 * The CloudWatch agent from the Amazon Linux 2023 repository, configured from the file the user data writes
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/installing-cloudwatch-agent-commandline.html).
 * Runs in the background, so it never delays the ECS agent; installs once, (re)starts on every boot.
 */
export const HOST_METRICS_SCRIPT = `#!/bin/bash
rpm -q amazon-cloudwatch-agent >/dev/null || dnf install -y amazon-cloudwatch-agent
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${HOST_PATHS.agentConfig}
`;

/**
 * On a warm-pool instance (target lifecycle state Warmed:*): pull the strongSwan image while it waits, then restart
 * the ECS agent the moment the instance is headed into service. With ECS_WARM_POOLS_CHECK the agent reads the target
 * state once at start and then once a minute (amazon-ecs-agent agent/app/agent.go: asgLifecyclePollWait = time.Minute);
 * restarted, it reads InService at once and registers. The target state is in the instance metadata
 * (https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html).
 * A cold launch, or a stopped-pool instance booting into service, reads InService at once: nothing to do.
 * Arguments: the image, the region; PROXY_FLEET_IMDS overrides the metadata endpoint (tests).
 */
export const WARM_POOL_SCRIPT = `#!/bin/bash
image="$1" region="$2" imds_endpoint="\${PROXY_FLEET_IMDS:-http://169.254.169.254}"
imds() {
  local token
  token=$(curl -sf -X PUT "$imds_endpoint/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') &&
    curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds_endpoint/latest/meta-data/$1"
}
case "$(imds autoscaling/target-lifecycle-state)" in Warmed:*) ;; *) exit 0 ;; esac
for try in 1 2 3 4 5; do
  command -v aws >/dev/null || dnf install -y awscli-2
  aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "\${image%%/*}" && docker pull "$image" && break
  sleep 10
done
until [ "$(imds autoscaling/target-lifecycle-state)" = InService ]; do sleep 1; done
systemctl restart ecs
`;

export async function StrongswanSites({ stack }: StackContext) {
  const { bundles, state, repository, trackedBranch } = use(ConfigStore);
  const { vpc } = use(Network);
  const stage = stack.stage;
  const cluster = new ecs.Cluster(stack, "Cluster", { vpc, clusterName: strongswanClusterName(stage), containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const ecsServices: Record<string, EcsTarget> = {};
  const groups: Record<string, autoscaling.AutoScalingGroup> = {};
  const taskRoles: iam.IRole[] = [];

  const model = await deployedFleet();
  const services = model.services.filter((s): s is ServiceModelOf<"strongswan"> => s.kind === "strongswan");
  const pin = bundlePins(stack, { bundles, state, stateKey: `${repository.repositoryName}#${trackedBranch}` });
  const instanceHeal = healLoop(stack, state.tableName, (fn) => state.grantReadWriteData(fn));

  // The deploy-time bundles, shipped before any task starts, so the first task has a verified config to pin.
  const { vpnRoutes } = deploySettings();
  const routedBy = new Map<string, string>();
  const rendered = renderFleet(model).bundles.filter((b) => services.some((s) => s.name === b.service));
  const initialBundles = rendered.length === 0 ? undefined : new s3deploy.BucketDeployment(stack, "InitialBundles", {
    destinationBucket: bundles,
    sources: rendered.map((b) => s3deploy.Source.jsonData(bundleKey(b.service, b.hash), b)),
    prune: false,
    retainOnDelete: true,
  });

  for (const service of services) {
    const name = service.name;
    const id = constructId(name);
    const bundle = rendered.find((b) => b.service === name)!;
    // The accepted bundle if the rollout loop has deployed one, else this deploy's (a redeploy never reverts).
    const pinned = pin(name, id, bundle.hash);
    const identity = [{ key: SERVICE_TAG, value: name }, { key: STAGE_TAG, value: stage }];
    const securityGroup = new ec2.SecurityGroup(stack, `${id}Peers`, { vpc, description: `proxy-fleet ${stage} ${name}: IPsec peers and forwarded ports` });
    if (!service.noIpsec) {
      // Every peer address of a connection (primary and secondaries), each a /32.
      for (const connection of service.connections) {
        for (const address of connection.remote.addresses) {
          const peer = address.includes(":") ? ec2.Peer.ipv6(`${address}/128`) : ec2.Peer.ipv4(`${address}/32`);
          securityGroup.addIngressRule(peer, ec2.Port.udp(500), `IKE from ${connection.name} (${address})`);
          securityGroup.addIngressRule(peer, ec2.Port.udp(4500), `NAT-T from ${connection.name} (${address})`);
          securityGroup.addIngressRule(peer, new ec2.Port({ protocol: ec2.Protocol.ESP, stringRepresentation: "ESP" }), `ESP from ${connection.name} (${address})`);
        }
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

    // The persistent ENIs (one per AZ) and the Elastic IP the heal loop moves onto each new instance. They belong
    // to the stack: `sst remove` deletes them (after the group, which depends on them), a redeploy creates them anew.
    const persistent = vpc.publicSubnets.map((subnet, i) => new ec2.CfnNetworkInterface(stack, `${id}Eni${i}`, {
      subnetId: subnet.subnetId, groupSet: [securityGroup.securityGroupId], sourceDestCheck: false,
      description: `proxy-fleet ${stage} ${name} persistent ENI (${subnet.availabilityZone})`,
      tags: identity,
    }));
    const eip = new ec2.CfnEIP(stack, `${id}Eip`, { domain: "vpc", tags: identity });

    const role = new iam.Role(stack, `${id}InstanceRole`, { assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com") });
    // Routes to the remote subnets (optional) name one ENI: the site then stays in that ENI's availability zone.
    const routes = vpnRoutes && !service.noIpsec ? service.connections.flatMap((c) => c.remote.subnets) : [];
    for (const destination of routes) {
      const other = routedBy.get(destination);
      if (other) throw new Error(`PROXY_FLEET_VPN_ROUTES: ${destination} is a remote subnet of both ${other} and ${name}; a route table holds one route per destination`);
      routedBy.set(destination, name);
      vpc.privateSubnets.forEach((subnet, i) => {
        new ec2.CfnRoute(stack, `${id}Route${i}${destination.replace(/[^0-9a-f]/gi, "")}`, {
          routeTableId: subnet.routeTable.routeTableId,
          ...(destination.includes(":") ? { destinationIpv6CidrBlock: destination } : { destinationCidrBlock: destination }),
          networkInterfaceId: persistent[0]!.ref,
        });
      });
    }
    // The ECS agent on a warm-pool instance waits until the instance leaves the pool before it registers, so the
    // task is placed only on the instance that serves (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html).
    // Auto Scaling stops a warmed instance without waiting for user data, and cloud-init runs it on first boot
    // only (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html): the script
    // runs on every boot (https://repost.aws/knowledge-center/execute-user-data-ec2), so an instance stopped
    // mid-script still has the ECS settings when it leaves the pool; each line is idempotent or harmless twice.
    const shell = ec2.UserData.forLinux();
    for (const setting of [ECS_WARM_POOLS_CHECK, ECS_IMAGE_PULL_BEHAVIOR]) shell.addCommands(`grep -qxF ${setting} /etc/ecs/ecs.config || echo ${setting} >> /etc/ecs/ecs.config`);
    // Host memory, swap and disk for the alarms (stacks/Operations.ts), and the warm-pool helper; both in the
    // background (systemd-run), so the ECS agent starts as soon as it would without them.
    shell.addCommands(
      ...writeFile(HOST_PATHS.agentConfig, JSON.stringify(hostMetricsAgentConfig(), null, 2)),
      ...writeFile(HOST_PATHS.hostMetrics, HOST_METRICS_SCRIPT, "755"),
      ...writeFile(HOST_PATHS.warmPool, WARM_POOL_SCRIPT, "755"),
      `systemd-run --unit=proxy-fleet-host-metrics --collect ${HOST_PATHS.hostMetrics}`,
    );
    const userData = new ec2.MultipartUserData();
    userData.addPart(ec2.MultipartBody.fromRawBody({ contentType: 'text/cloud-config; charset="us-ascii"', body: USER_DATA_EVERY_BOOT }));
    userData.addUserDataPart(shell, ec2.MultipartBody.SHELL_SCRIPT, true);
    const group = new autoscaling.AutoScalingGroup(stack, `${id}Group`, {
      autoScalingGroupName: stageName(stage, name),
      vpc,
      vpcSubnets: routes.length > 0 ? { subnets: [vpc.publicSubnets[0]!] } : { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate: new ec2.LaunchTemplate(stack, `${id}LaunchTemplate`, {
        machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.STANDARD),
        instanceType: new ec2.InstanceType(STRONGSWAN_INSTANCE_TYPE),
        role,
        securityGroup,
        requireImdsv2: true,
        userData,
        blockDevices: [{ deviceName: "/dev/xvda", volume: ec2.BlockDeviceVolume.ebs(30, { encrypted: true }) }],
      }),
      minCapacity: 1,
      maxCapacity: 1,
      // No grace period: the launch hook holds a new instance until heal is done, so it needs none
      // (https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
      healthCheck: autoscaling.HealthCheck.ec2({ grace: Duration.seconds(0) }),
    });
    // Terminate and launch together: the replacement of an unhealthy instance does not wait for it to terminate
    // (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-maintenance-policy-overview-and-considerations.html).
    (group.node.defaultChild as autoscaling.CfnAutoScalingGroup).instanceMaintenancePolicy = { minHealthyPercentage: 0, maxHealthyPercentage: 100 };
    for (const { key, value } of identity) Tags.of(group).add(key, value, { applyToLaunchedInstances: true });
    // Part of the group's creation: a hook added afterwards would miss the very first launch. The instance may
    // wait for a whole worst-case heal run plus the event's delivery (functions/heal/heal.ts computes both).
    (group.node.defaultChild as autoscaling.CfnAutoScalingGroup).lifecycleHookSpecificationList = [{
      lifecycleHookName: LIFECYCLE_HOOK,
      lifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING",
      heartbeatTimeout: LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS,
      defaultResult: "ABANDON",
    }];
    // One instance always ready to replace the serving one: running by default (booted, image pulled; no boot on
    // the way back), or stopped (PROXY_FLEET_WARM_POOL=stopped: a warm start skips only the first-boot work).
    // MinSize, because with max = desired = 1 the pool's default size (max − desired) is 0
    // (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html). Not hibernated: hibernation
    // must be enabled at launch and needs a root volume holding the RAM
    // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/hibernating-prerequisites.html), and still resumes
    // slower than a running instance leaves the pool (docs/heal.md). No reuse on scale-in: ECS does not allow it
    // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html).
    group.addWarmPool({ minSize: WARM_POOL_MIN_SIZE, poolState: POOL_STATES[warmPoolState()], reuseOnScaleIn: false });
    // The CloudWatch agent publishes only in its namespace; it reads the group's name from the instance's tags.
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ["cloudwatch:PutMetricData"], resources: ["*"], conditions: { StringEquals: { "cloudwatch:namespace": HOST_METRICS_NAMESPACE } },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["ec2:DescribeTags"], resources: ["*"] }));
    // The first launch needs the heal rule, its Lambda and the ENIs/EIP it attaches to exist already.
    group.node.addDependency(instanceHeal.fn, ...instanceHeal.rules, ...persistent, eip);

    // Its own capacity provider, and the service placed only there: one site's charon never runs on another
    // site's instance (and its ENI / Elastic IP).
    const capacity = new ecs.AsgCapacityProvider(stack, `${id}Capacity`, {
      // No fixed name: a group replaced for any reason replaces its capacity provider too, which a fixed name blocks.
      autoScalingGroup: group, enableManagedTerminationProtection: false, enableManagedDraining: true,
    });
    cluster.addAsgCapacityProvider(capacity);

    const task = new ecs.Ec2TaskDefinition(stack, `${id}Task`, { family: stageName(stage, name), networkMode: ecs.NetworkMode.HOST });
    grantAgentReads(task, bundles, name);
    grantPreSharedKeys(stack, task, service);
    taskRoles.push(task.taskRole, task.obtainExecutionRole());
    const container = task.addContainer("proxy", {
      image: proxyImage("strongswan"),
      memoryReservationMiB: 256,
      linuxParameters: new ecs.LinuxParameters(stack, `${id}Linux`, { initProcessEnabled: true }),
      healthCheck: CONTAINER_HEALTH_CHECK,
      stopTimeout: CONTAINER_STOP_TIMEOUT,
      environment: {
        CONFIG_BUCKET: bundles.bucketName,
        PROXY_FLEET_SERVICE: name,
        PROXY_FLEET_BUNDLE_KEY: pinned.key,
        PROXY_FLEET_BUNDLE_HASH: pinned.hash,
        PROXY_FLEET_COMMIT: pinned.commit,
        // Fills in the {stage} of pre-shared key references (functions/fleet/secrets.ts).
        PROXY_FLEET_STAGE: stack.stage,
      },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: name, logRetention: logs.RetentionDays.ONE_MONTH }),
    });
    container.linuxParameters!.addCapabilities(ecs.Capability.NET_ADMIN);
    // On a warm instance: pre-pull this image, start the ECS agent as the instance goes into service.
    shell.addCommands(`systemd-run --unit=proxy-fleet-warm-pool --collect ${HOST_PATHS.warmPool} ${container.imageName} ${stack.region}`);
    const ecsService = new ecs.Ec2Service(stack, `${id}Service`, {
      cluster,
      serviceName: name,
      taskDefinition: task,
      desiredCount: 1,
      capacityProviderStrategies: [{ capacityProvider: capacity.capacityProviderName, weight: 1 }],
      // One host, host networking: the old task stops before the new one starts.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: true },
    });
    if (initialBundles) ecsService.node.addDependency(initialBundles);
    groups[name] = group;
    ecsServices[name] = { cluster: cluster.clusterName, service: name, container: "proxy" };
  }

  NagSuppressions.addStackSuppressions(stack, [
    { id: "AwsSolutions-EC23", reason: "IKE, NAT-T and ESP must be reachable by the configured peers; rules are per peer address." },
    { id: "AwsSolutions-AS3", reason: "Scaling events reach the instance-heal loop through EventBridge, not SNS notifications." },
    { id: "AwsSolutions-IAM4", reason: "The ECS container instance role uses the AWS managed AmazonEC2ContainerServiceforEC2Role, as ECS documents; CDK's helper Lambdas use the basic execution role." },
    { id: "AwsSolutions-ECS2", reason: "Only non-secret settings (bucket, service, pinned bundle) are passed as environment; keys come from SSM / Secrets Manager." },
    { id: "AwsSolutions-L1", reason: "CDK's capacity-provider draining hook and bucket-deployment Lambdas pin their runtimes." },
  ]);
  NagSuppressions.addStackSuppressions(stack, [{
    id: "AwsSolutions-IAM5",
    reason: "Bundles are content-addressed (bundles/*), runtime documents per service; keys live under the stage's and service's path; CDK's log, draining-hook and bucket-deployment policies are CDK's.",
    appliesTo: [
      { regex: "/^Resource::.*Bundles.*\\/(bundles|runtime\\/[a-z0-9-]+)\\/\\*$/" },
      { regex: "/^Resource::.*Bundles[^/]*\\/\\*$/" },
      { regex: "/^Resource::arn:<AWS::Partition>:(ssm|secretsmanager|kms):[^:]+:[^:]+:(parameter\\/proxy-fleet\\/|secret:proxy-fleet\\/|key\\/\\*).*$/" },
      { regex: "/^Action::s3:(GetObject|GetBucket|List|Abort|DeleteObject)\\*$/" },
      { regex: "/^Resource::(\\*|arn:<AWS::Partition>:s3:::cdk-.*|<InitialBundles.*>|.*Bundles.*\\.Arn>\\/\\*)$/" },
      { regex: "/^Action::(ecs:|ec2:|autoscaling:).*/" },
    ],
  }]);
  waiveSstInternals(stack);
  return { cluster, groups, ecsServices, taskRoles, instanceHeal: instanceHeal.fn };
}

/** Shell lines writing `content` to `path` (a quoted here-document: nothing in it is expanded), with its mode. */
export function writeFile(path: string, content: string, mode?: string): string[] {
  const end = "PROXY_FLEET_EOF";
  if (content.split("\n").includes(end)) throw new Error(`${path}: its content contains the here-document's end marker ${end}`);
  return [`mkdir -p ${path.slice(0, path.lastIndexOf("/"))}`, `cat > ${path} <<'${end}'\n${content.replace(/\n$/, "")}\n${end}`, ...(mode ? [`chmod ${mode} ${path}`] : [])];
}

/**
 * The task reads its service's pre-shared keys: SSM parameters under /proxy-fleet/<stage>/<service>/ and secrets
 * under proxy-fleet/<stage>/<service>/, decrypted with whatever KMS key encrypted them, but only on behalf of those
 * parameters and secrets (their ARN is the encryption context:
 * https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html,
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
 */
function grantPreSharedKeys(stack: SstStack, task: ecs.TaskDefinition, service: ServiceModelOf<"strongswan">): void {
  const path = secretPath(stack.stage, service.name);
  const parameters = stack.formatArn({ service: "ssm", resource: "parameter", resourceName: `${path}*` });
  const secrets = stack.formatArn({ service: "secretsmanager", resource: "secret", resourceName: `${path}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  task.addToTaskRolePolicy(new iam.PolicyStatement({ actions: ["ssm:GetParameter"], resources: [parameters] }));
  task.addToTaskRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [secrets] }));
  const key = stack.formatArn({ service: "kms", resource: "key", resourceName: "*" });
  task.addToTaskRolePolicy(new iam.PolicyStatement({
    actions: ["kms:Decrypt"], resources: [key], conditions: { StringLike: { "kms:EncryptionContext:PARAMETER_ARN": parameters } },
  }));
  task.addToTaskRolePolicy(new iam.PolicyStatement({
    actions: ["kms:Decrypt"], resources: [key], conditions: { StringLike: { "kms:EncryptionContext:SecretARN": secrets } },
  }));
  // A key outside the stage's path could never be read by this task: refuse the deploy instead of a task that fails.
  for (const connection of service.noIpsec ? [] : service.connections) {
    const reference = secretName(secretReferenceFor(connection.psk, stack.stage));
    if (!reference.startsWith(path)) {
      throw new Error(`${service.name} ${connection.name}: the pre-shared key ${reference} is outside ${path}, the only keys stage ${stack.stage} may read; `
        + `name it under that path (write {stage} where the stage's name goes, e.g. /proxy-fleet/{stage}/${service.name}/${connection.name})`);
    }
  }
}

/**
 * The instance-heal loop: its Lambda, sized from heal's computed worst case, and its two rules. It may change
 * only ENIs, Elastic IPs and instances tagged with this stage, and complete only this stage's hooks.
 */
function healLoop(stack: SstStack, stateTable: string, grantState: (fn: iam.IGrantable) => void) {
  const stage = stack.stage;
  const heartbeatAge = Duration.seconds(LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS);
  const { fn, target } = loopFunction(stack, "InstanceHeal", {
    handler: "functions/instance-heal.handler",
    description: `proxy-fleet ${stage} instance heal: persistent ENI + Elastic IP onto launching proxy instances`,
    timeout: HEAL_TIMEOUT_SECONDS,
    environment: { STATE_TABLE: stateTable, PROXY_FLEET_STAGE: stage, POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet", POWERTOOLS_SERVICE_NAME: "instance-heal" },
  }, { maxEventAge: heartbeatAge, retryAttempts: 2 });
  grantState(fn);
  // Describe* calls support no resource-level permissions
  // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html,
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html).
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeAddresses", "autoscaling:DescribeAutoScalingInstances"],
    resources: ["*"],
  }));
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute", "ec2:AssociateAddress"],
    resources: ["instance", "network-interface", "elastic-ip"].map((resource) => stack.formatArn({ service: "ec2", resource, resourceName: "*" })),
    conditions: { StringEquals: { [`aws:ResourceTag/${STAGE_TAG}`]: stage } },
  }));
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"],
    resources: [healGroupArn(stack)],
  }));
  const onLaunch = new events.Rule(stack, "InstanceHealOnLaunch", {
    description: `proxy-fleet ${stage}: a proxy instance waits in Pending:Wait for its persistent ENI`,
    eventPattern: {
      source: ["aws.autoscaling"],
      detailType: ["EC2 Instance-launch Lifecycle Action"],
      detail: { AutoScalingGroupName: events.Match.prefix(stagePrefix(stage)), LifecycleHookName: [LIFECYCLE_HOOK] },
    },
    targets: [target],
  });
  // EC2 state changes carry no tags: the Lambda ignores instances that are not this stage's (not-ours). Stopping
  // and shutting-down are the earliest signs of a loss EC2 sends: a serving instance is replaced at once.
  const onTermination = new events.Rule(stack, "InstanceHealOnTermination", {
    description: `proxy-fleet ${stage}: replace a stopping proxy instance at once, give its persistent ENI back early`,
    eventPattern: { source: ["aws.ec2"], detailType: ["EC2 Instance State-change Notification"], detail: { state: [...LEAVING_STATES] } },
    targets: [target],
  });
  waiveFunctionFindings(fn, "EC2 and Auto Scaling Describe* calls have no resource-level permissions; writes are limited to resources tagged with this stage and to this stage's groups by name; X-Ray needs '*'.", [
    { regex: "/^Resource::arn:<AWS::Partition>:ec2:[^:]+:[^:]+:(instance|network-interface|elastic-ip)\\/\\*$/" },
    stageScoped("autoscaling", "autoScalingGroup:\\*:autoScalingGroupName\\/", stagePrefix(stage)),
  ]);
  return { fn, rules: [onLaunch, onTermination] };
}

/** This stage's Auto Scaling groups: arn:aws:autoscaling:<region>:<account>:autoScalingGroup:<uuid>:autoScalingGroupName/<name>. */
export function healGroupArn(stack: SstStack): string {
  return stack.formatArn({
    service: "autoscaling", resource: "autoScalingGroup", arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    resourceName: `*:autoScalingGroupName/${stagePrefix(stack.stage)}*`,
  });
}
