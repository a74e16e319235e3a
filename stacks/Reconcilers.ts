// The reconciler Lambdas and what triggers them. No reserved concurrency by default (a new account's quota of 10
// leaves nothing to reserve): the loops serialize through the state table instead (the DNS and task-targets loops
// take a lease per target group, the rollout loops save their state with conditional writes on the version they
// read, so a concurrent run loses and is retried). PROXY_FLEET_RESERVED_CONCURRENCY reserves some on top.
import { CfnOutput, Duration, RemovalPolicy, Stack, aws_cloudtrail as cloudtrail, aws_ec2 as ec2, aws_events as events, aws_iam as iam, aws_s3 as s3 } from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";
import { use, type Stack as SstStack, type StackContext } from "sst/constructs";
import { ConfigStore } from "./ConfigStore.ts";
import { loopFunction } from "./loops.ts";
import { Network } from "./Network.ts";
import { ProxyServices } from "./ProxyServices.ts";
import { ROUTE53_CHANGE_PATTERN, allowHostedZoneReads, hostedZoneSetting } from "./Route53Events.ts";
import { StrongswanSites } from "./StrongswanSites.ts";
import { DNS_SYNC_OLD_SPACE_MB } from "../functions/dns/sync.ts";
import { stageScoped, waiveFunctionFindings, waiveSstInternals } from "./nag.ts";
import { deploySettings, proxyClusterName, stageName, stagePrefix, strongswanClusterName } from "./settings.ts";

/** Route 53 API calls reach EventBridge through CloudTrail, and only on the us-east-1 default bus. */
export const ROUTE53_EVENTS_REGION = "us-east-1";

const REPOSITORY_READ = ["codecommit:GetBranch", "codecommit:GetCommit", "codecommit:GetFile", "codecommit:GetDifferences"];

/**
 * The worst case of each loop's run, which its Lambda timeout must cover. The DNS and rollout loops bound
 * their runs by these budgets (their handlers stop starting new work past them); heal's comes from its code.
 */
export const LOOP_TIMEOUTS = { dnsSync: 300, configRollout: 600, rolloutWatch: 60, taskTargets: 120 } as const;

export function Reconcilers({ stack }: StackContext) {
  const { bundles, state, repository, trackedBranch } = use(ConfigStore);
  const { vpc } = use(Network);
  const proxies = use(ProxyServices);
  const sites = use(StrongswanSites);
  const stage = stack.stage;
  const settings = deploySettings();
  // proxy-fleet's own events (Config Accepted, Rollout Failed, DNS Removal Held) go to the stage's own bus: one
  // stage's events never trigger another's loops, and each loop may put events only there.
  const bus = new events.EventBus(stack, "Events", { eventBusName: stageName(stage, "events") });
  const busArn = Stack.of(stack).formatArn({ service: "events", resource: "event-bus", resourceName: stageName(stage, "events") });
  const clusters = [proxyClusterName(stage), strongswanClusterName(stage)];
  const proxyCluster = Stack.of(stack).formatArn({ service: "ecs", resource: "cluster", resourceName: proxyClusterName(stage) });

  // DNS sync runs in the VPC: the VPC resolver (169.254.169.253), private hosted zones and Route 53 Resolver
  // forwarding rules answer only there (https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html).
  const dnsSecurityGroup = new ec2.SecurityGroup(stack, "DnsSyncEgress", { vpc, description: `proxy-fleet ${stage} DNS sync: DNS and AWS APIs out` });
  const dns = loopFunction(stack, "DnsSync", {
    handler: "functions/dns-sync.handler",
    description: `proxy-fleet ${stage} DNS sync: hostnames → NLB target groups and runtime target documents`,
    timeout: LOOP_TIMEOUTS.dnsSync,
    memorySize: "512 MB",
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    securityGroups: [dnsSecurityGroup],
    environment: {
      CONFIG_BUCKET: bundles.bucketName,
      STATE_TABLE: state.tableName,
      EVENT_BUS_NAME: stageName(stage, "events"),
      POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
      POWERTOOLS_SERVICE_NAME: "dns-sync",
      // The heap the bench measures (bench/dns-plan.bench.ts): capped, V8 collects before garbage fills the 512 MB.
      // Node.js runtimes read NODE_OPTIONS (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html).
      NODE_OPTIONS: `--max-old-space-size=${DNS_SYNC_OLD_SPACE_MB}`,
    },
  }, { maxEventAge: Duration.minutes(10), retryAttempts: 2 });
  const dnsSync = dns.fn;
  bundles.grantRead(dnsSync, "accepted/*");
  bundles.grantReadWrite(dnsSync, "runtime/*");
  state.grantReadWriteData(dnsSync);
  // DescribeTargetHealth supports no resource-level permissions
  // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html).
  dnsSync.addToRolePolicy(new iam.PolicyStatement({ actions: ["elasticloadbalancing:DescribeTargetHealth"], resources: ["*"] }));
  // fleet.yaml names the target groups the DNS loop fills, and it changes without a deploy: the account's target
  // groups, but only those tagged for this stage.
  dnsSync.addToRolePolicy(new iam.PolicyStatement({
    actions: ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
    resources: [Stack.of(stack).formatArn({ service: "elasticloadbalancing", resource: "targetgroup", resourceName: "*" })],
    conditions: { StringEquals: { "aws:ResourceTag/proxy-fleet:stage": stage } },
  }));
  dnsSync.addToRolePolicy(new iam.PolicyStatement({ actions: ["events:PutEvents"], resources: [busArn] }));
  // Names in the listed hosted zones are read from Route 53 itself (PROXY_FLEET_HOSTED_ZONES), those zones only.
  allowHostedZoneReads(dnsSync, hostedZoneSetting(), vpc.vpcId);

  new events.Rule(stack, "DnsSyncSchedule", {
    description: `proxy-fleet ${stage}: look up every name whose TTL expired`,
    schedule: events.Schedule.rate(Duration.minutes(1)),
    targets: [dns.target],
  });
  new events.Rule(stack, "DnsSyncAfterRollout", {
    eventBus: bus,
    description: `proxy-fleet ${stage}: look up the names a newly accepted config brings`,
    eventPattern: { source: ["proxy-fleet"], detailType: ["Config Accepted"], detail: { repository: [repository.repositoryName] } },
    targets: [dns.target],
  });
  const trail = route53Events(stack, settings.createTrail);
  // In us-east-1 Route 53's events arrive here; in any other region through the forwarder (stacks/Route53Events.ts).
  new events.Rule(stack, "DnsSyncOnRoute53Change", {
    description: `proxy-fleet ${stage}: read the names under a changed Route 53 record at once`,
    eventPattern: ROUTE53_CHANGE_PATTERN,
    targets: [dns.target],
  });

  // The config rollout loop and its watch. ECS_SERVICES maps fleet services to the ECS services that run them.
  const rolloutEnvironment = {
    CONFIG_REPOSITORY: repository.repositoryName,
    CONFIG_BRANCH: trackedBranch,
    CONFIG_BUCKET: bundles.bucketName,
    STATE_TABLE: state.tableName,
    ECS_SERVICES: stack.toJsonString({ ...proxies.ecsServices, ...sites.ecsServices }),
    EVENT_BUS_NAME: stageName(stage, "events"),
    POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
  };
  const rollout = loopFunction(stack, "ConfigRollout", {
    handler: "functions/config-rollout.handler",
    description: `proxy-fleet ${stage} config rollout: a commit to the config repository goes live`,
    timeout: LOOP_TIMEOUTS.configRollout,
    memorySize: "1024 MB",
    environment: { ...rolloutEnvironment, POWERTOOLS_SERVICE_NAME: "config-rollout" },
  }, { maxEventAge: Duration.hours(1), retryAttempts: 2 });
  const configRollout = rollout.fn;
  repository.grant(configRollout, ...REPOSITORY_READ, "codecommit:PostCommentForComparedCommit");
  bundles.grantReadWrite(configRollout, "bundles/*");
  bundles.grantReadWrite(configRollout, "accepted/*");
  state.grantReadWriteData(configRollout);
  // Only this stage's services: arn:aws:ecs:<region>:<account>:service/<cluster>/<service>.
  configRollout.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:DescribeServices", "ecs:UpdateService"],
    resources: clusters.map((c) => Stack.of(stack).formatArn({ service: "ecs", resource: "service", resourceName: `${c}/*` })),
  }));
  // Task definitions are registered by family at run time; RegisterTaskDefinition and DescribeTaskDefinition
  // support no resource-level permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html).
  configRollout.addToRolePolicy(new iam.PolicyStatement({ actions: ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"], resources: ["*"] }));
  configRollout.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:TagResource"],
    resources: [Stack.of(stack).formatArn({ service: "ecs", resource: "task-definition", resourceName: `${stagePrefix(stage)}*` })],
    conditions: { StringEquals: { "ecs:CreateAction": "RegisterTaskDefinition" } },
  }));
  // The copied revisions keep their task and execution roles: exactly those roles may be passed, only to ECS tasks.
  configRollout.addToRolePolicy(new iam.PolicyStatement({
    actions: ["iam:PassRole"],
    resources: [...proxies.taskRoles, ...sites.taskRoles].map((role) => role.roleArn),
    conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
  }));

  const watch = loopFunction(stack, "RolloutWatch", {
    handler: "functions/rollout-watch.handler",
    description: `proxy-fleet ${stage} rollout watch: pins versions whose ECS deployment failed`,
    timeout: LOOP_TIMEOUTS.rolloutWatch,
    environment: { ...rolloutEnvironment, POWERTOOLS_SERVICE_NAME: "rollout-watch" },
  }, { maxEventAge: Duration.hours(1), retryAttempts: 2 });
  const rolloutWatch = watch.fn;
  repository.grant(rolloutWatch, "codecommit:GetCommit", "codecommit:PostCommentForComparedCommit");
  state.grantReadWriteData(rolloutWatch);
  // After a failed deployment the watch re-points accepted/current.json at the config that still runs.
  bundles.grantReadWrite(rolloutWatch, "accepted/*");
  for (const fn of [configRollout, rolloutWatch]) fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["events:PutEvents"], resources: [busArn] }));

  new events.Rule(stack, "ConfigRolloutOnPush", {
    description: `proxy-fleet ${stage}: a push to the tracked branch of the config repository`,
    eventPattern: {
      source: ["aws.codecommit"],
      detailType: ["CodeCommit Repository State Change"],
      resources: [repository.repositoryArn],
      detail: { event: ["referenceCreated", "referenceUpdated"], referenceType: ["branch"], referenceName: [trackedBranch] },
    },
    targets: [rollout.target],
  });
  // Only this stage's clusters' deployments (the event's resources name the service, under its cluster).
  new events.Rule(stack, "RolloutWatchOnDeployment", {
    description: `proxy-fleet ${stage}: how each of its ECS deployments ended`,
    eventPattern: {
      source: ["aws.ecs"],
      detailType: ["ECS Deployment State Change"],
      resources: events.Match.anyOf(...clusters.map((c) => events.Match.prefix(Stack.of(stack).formatArn({ service: "ecs", resource: "service", resourceName: `${c}/` })))),
    },
    targets: [watch.target],
  });
  waiveFunctionFindings(configRollout, "RegisterTaskDefinition and DescribeTaskDefinition have no resource scope; services are this stage's clusters' (service/<cluster>/*); bucket grants are prefix-scoped; X-Ray needs '*'.", [
    stageScoped("ecs", "service\\/", stagePrefix(stage)), stageScoped("ecs", "task-definition\\/", stagePrefix(stage)),
  ]);
  waiveFunctionFindings(rolloutWatch, "Bucket and table grants are CDK's; X-Ray needs '*'.");

  // The task-targets loop: every listener target group beyond an ECS service's one native group holds the
  // service's running task IPs (see ProxyServices).
  const taskTargets = loopFunction(stack, "TaskTargets", {
    handler: "functions/task-targets.handler",
    description: `proxy-fleet ${stage} task targets: listener target groups follow the proxy tasks' IPs`,
    timeout: LOOP_TIMEOUTS.taskTargets,
    environment: {
      TASK_TARGET_GROUPS: stack.toJsonString(proxies.taskTargetGroups),
      STATE_TABLE: state.tableName,
      POWERTOOLS_SERVICE_NAME: "task-targets",
      POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
    },
  }, { maxEventAge: Duration.minutes(10), retryAttempts: 2 });
  state.grantReadWriteData(taskTargets.fn);
  taskTargets.fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:ListTasks"], resources: ["*"], conditions: { ArnEquals: { "ecs:cluster": proxyCluster } },
  }));
  taskTargets.fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:DescribeTasks"],
    resources: [Stack.of(stack).formatArn({ service: "ecs", resource: "task", resourceName: `${proxyClusterName(stage)}/*` })],
  }));
  // desiredCount: a service that wants tasks but lists none keeps its targets (the loop's guard).
  taskTargets.fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:DescribeServices"],
    resources: [Stack.of(stack).formatArn({ service: "ecs", resource: "service", resourceName: `${proxyClusterName(stage)}/*` })],
  }));
  taskTargets.fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["elasticloadbalancing:DescribeTargetHealth"], resources: ["*"] }));
  if (proxies.reconciledTargetGroups.length > 0) {
    taskTargets.fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
      resources: proxies.reconciledTargetGroups.map((g) => g.targetGroupArn),
    }));
  }
  new events.Rule(stack, "TaskTargetsOnTaskChange", {
    description: `proxy-fleet ${stage}: a proxy task started or stopped`,
    eventPattern: { source: ["aws.ecs"], detailType: ["ECS Task State Change"], detail: { clusterArn: [proxyCluster] } },
    targets: [taskTargets.target],
  });
  new events.Rule(stack, "TaskTargetsSweep", {
    description: `proxy-fleet ${stage}: every listener target group against the running tasks`,
    schedule: events.Schedule.rate(Duration.minutes(1)),
    targets: [taskTargets.target],
  });
  waiveFunctionFindings(taskTargets.fn, "ListTasks is scoped by the ecs:cluster condition; DescribeTargetHealth has no resource-level permissions; tasks and services are this stage's proxy cluster's; X-Ray needs '*'.", [
    stageScoped("ecs", "service\\/", stagePrefix(stage)), stageScoped("ecs", "task\\/", stagePrefix(stage)),
  ]);

  waiveFunctionFindings(dnsSync, "Target groups are named in fleet.yaml, which changes without a deploy: only those tagged with this stage; DescribeTargetHealth has no resource-level permissions; the bucket grants are prefix-scoped; X-Ray needs '*'.", [
    { regex: "/^Resource::arn:<AWS::Partition>:elasticloadbalancing:[^:]+:[^:]+:targetgroup\\/\\*$/" },
  ]);
  waiveSstInternals(stack);
  new CfnOutput(stack, "Route53Events", { value: trail });
  stack.addOutputs({ DnsSyncFunction: dnsSync.functionName, ConfigRolloutFunction: configRollout.functionName });
  return { dnsSync, configRollout, rolloutWatch, taskTargets: taskTargets.fn };
}

/**
 * Route 53 changes reach EventBridge only as "AWS API Call via CloudTrail" events, which need a trail
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html). With
 * PROXY_FLEET_CREATE_TRAIL=true the stack creates one; otherwise it says, as an output and at synth, that it relies
 * on an existing trail (without one, Route 53 changes are picked up by the 1-minute schedule only).
 */
function route53Events(stack: SstStack, createTrail: boolean): string {
  if (!createTrail) {
    return "relies on an existing CloudTrail trail (PROXY_FLEET_CREATE_TRAIL=true creates one); without a trail Route 53 changes are seen by the 1-minute schedule only";
  }
  const logs = new s3.Bucket(stack, "TrailLogs", {
    encryption: s3.BucketEncryption.S3_MANAGED, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, enforceSSL: true,
    lifecycleRules: [{ expiration: Duration.days(90) }], removalPolicy: RemovalPolicy.RETAIN,
  });
  NagSuppressions.addResourceSuppressions(logs, [{ id: "AwsSolutions-S1", reason: "This bucket holds the trail's own logs; logging access to it again would recurse." }]);
  new cloudtrail.Trail(stack, "Trail", {
    trailName: stageName(stack.stage, "route53-events"), bucket: logs, isMultiRegionTrail: true, includeGlobalServiceEvents: true,
    enableFileValidation: true,
  });
  return `CloudTrail trail ${stageName(stack.stage, "route53-events")}`;
}
