// The reconciler Lambdas and what triggers them. Each loop runs one at a time (reserved concurrency 1):
// one writer per resource, on top of the conditional writes every loop already makes.
import { Duration, Stack, aws_events as events, aws_events_targets as targets, aws_iam as iam, aws_sqs as sqs } from "aws-cdk-lib";
import { Function, use, type StackContext } from "sst/constructs";
import { ConfigStore } from "./ConfigStore.ts";
import { ProxyServices } from "./ProxyServices.ts";
import { StrongswanSites } from "./StrongswanSites.ts";
import { waiveDeadLetterFinding, waiveFunctionFindings, waiveSstInternals } from "./nag.ts";

/** Route 53 API calls reach EventBridge through CloudTrail, and only on the us-east-1 default bus. */
export const ROUTE53_EVENTS_REGION = "us-east-1";

const REPOSITORY_READ = ["codecommit:GetBranch", "codecommit:GetCommit", "codecommit:GetFile", "codecommit:GetDifferences"];

export function Reconcilers({ stack }: StackContext) {
  const { bundles, state, repository, trackedBranch } = use(ConfigStore);

  const dnsSync = new Function(stack, "DnsSync", {
    handler: "functions/dns-sync.handler",
    description: "proxy-fleet DNS sync: hostnames → NLB target groups and runtime target documents",
    timeout: "5 minutes",
    memorySize: "512 MB",
    reservedConcurrentExecutions: 1,
    environment: {
      CONFIG_BUCKET: bundles.bucketName,
      STATE_TABLE: state.tableName,
      EVENT_BUS_NAME: "default",
      POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
      POWERTOOLS_SERVICE_NAME: "dns-sync",
    },
  });
  bundles.grantRead(dnsSync, "accepted/*");
  bundles.grantReadWrite(dnsSync, "runtime/*");
  state.grantReadWriteData(dnsSync);
  dnsSync.addToRolePolicy(new iam.PolicyStatement({ actions: ["elasticloadbalancing:DescribeTargetHealth"], resources: ["*"] }));
  dnsSync.addToRolePolicy(new iam.PolicyStatement({
    actions: ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
    resources: [Stack.of(stack).formatArn({ service: "elasticloadbalancing", resource: "targetgroup", resourceName: "*" })],
  }));
  dnsSync.addToRolePolicy(new iam.PolicyStatement({
    actions: ["events:PutEvents"],
    resources: [Stack.of(stack).formatArn({ service: "events", resource: "event-bus", resourceName: "default" })],
  }));

  // Events that could not be delivered (the function busy or failing) wait here instead of vanishing.
  const deadLetters = new sqs.Queue(stack, "DnsSyncDeadLetters", { enforceSSL: true, retentionPeriod: Duration.days(14) });
  const target = new targets.LambdaFunction(dnsSync, { deadLetterQueue: deadLetters, retryAttempts: 20, maxEventAge: Duration.hours(1) });

  new events.Rule(stack, "DnsSyncSchedule", {
    description: "proxy-fleet: look up every name whose TTL expired",
    schedule: events.Schedule.rate(Duration.minutes(1)),
    targets: [target],
  });
  new events.Rule(stack, "DnsSyncAfterRollout", {
    description: "proxy-fleet: look up the names a newly accepted config brings",
    eventPattern: { source: ["proxy-fleet"], detailType: ["Config Accepted"] },
    targets: [target],
  });
  if (stack.region === ROUTE53_EVENTS_REGION) {
    new events.Rule(stack, "DnsSyncOnRoute53Change", {
      description: "proxy-fleet: look up the names under a changed Route 53 record at once",
      eventPattern: {
        source: ["aws.route53"],
        detailType: ["AWS API Call via CloudTrail"],
        detail: { eventSource: ["route53.amazonaws.com"], eventName: ["ChangeResourceRecordSets"] },
      },
      targets: [target],
    });
  }

  // The config rollout loop and its watch. ECS_SERVICES maps fleet services to the ECS services that run them.
  const rolloutEnvironment = {
    CONFIG_REPOSITORY: repository.repositoryName,
    CONFIG_BRANCH: trackedBranch,
    CONFIG_BUCKET: bundles.bucketName,
    STATE_TABLE: state.tableName,
    ECS_SERVICES: stack.toJsonString({ ...use(ProxyServices).ecsServices, ...use(StrongswanSites).ecsServices }),
    EVENT_BUS_NAME: "default",
    POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
  };
  const configRollout = new Function(stack, "ConfigRollout", {
    handler: "functions/config-rollout.handler",
    description: "proxy-fleet config rollout: a commit to the config repository goes live",
    timeout: "5 minutes",
    memorySize: "1024 MB",
    reservedConcurrentExecutions: 1,
    environment: { ...rolloutEnvironment, POWERTOOLS_SERVICE_NAME: "config-rollout" },
  });
  repository.grant(configRollout, ...REPOSITORY_READ, "codecommit:PostCommentForComparedCommit");
  bundles.grantReadWrite(configRollout, "bundles/*");
  bundles.grantReadWrite(configRollout, "accepted/*");
  state.grantReadWriteData(configRollout);
  configRollout.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:DescribeServices", "ecs:UpdateService"],
    resources: [Stack.of(stack).formatArn({ service: "ecs", resource: "service", resourceName: "*" })],
  }));
  configRollout.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:TagResource"],
    resources: ["*"],
  }));
  configRollout.addToRolePolicy(new iam.PolicyStatement({
    actions: ["iam:PassRole"],
    resources: ["*"],
    conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
  }));

  const rolloutWatch = new Function(stack, "RolloutWatch", {
    handler: "functions/rollout-watch.handler",
    description: "proxy-fleet rollout watch: pins versions whose ECS deployment failed",
    timeout: "1 minute",
    reservedConcurrentExecutions: 1,
    environment: { ...rolloutEnvironment, POWERTOOLS_SERVICE_NAME: "rollout-watch" },
  });
  repository.grant(rolloutWatch, "codecommit:GetCommit", "codecommit:PostCommentForComparedCommit");
  state.grantReadWriteData(rolloutWatch);
  for (const fn of [configRollout, rolloutWatch]) {
    fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ["events:PutEvents"],
      resources: [Stack.of(stack).formatArn({ service: "events", resource: "event-bus", resourceName: "default" })],
    }));
  }

  const rolloutDeadLetters = new sqs.Queue(stack, "RolloutDeadLetters", { enforceSSL: true, retentionPeriod: Duration.days(14) });
  new events.Rule(stack, "ConfigRolloutOnPush", {
    description: "proxy-fleet: a push to the tracked branch of the config repository",
    eventPattern: {
      source: ["aws.codecommit"],
      detailType: ["CodeCommit Repository State Change"],
      resources: [repository.repositoryArn],
      detail: { event: ["referenceCreated", "referenceUpdated"], referenceType: ["branch"], referenceName: [trackedBranch] },
    },
    targets: [new targets.LambdaFunction(configRollout, { deadLetterQueue: rolloutDeadLetters, retryAttempts: 10 })],
  });
  new events.Rule(stack, "RolloutWatchOnDeployment", {
    description: "proxy-fleet: how each ECS deployment ended",
    eventPattern: { source: ["aws.ecs"], detailType: ["ECS Deployment State Change"] },
    targets: [new targets.LambdaFunction(rolloutWatch, { deadLetterQueue: rolloutDeadLetters, retryAttempts: 10 })],
  });

  for (const fn of [configRollout, rolloutWatch]) {
    waiveFunctionFindings(fn, "Task definitions are registered by family at run time (RegisterTaskDefinition has no resource scope); PassRole is limited to ecs-tasks; bucket grants are prefix-scoped; X-Ray needs '*'.");
  }
  waiveDeadLetterFinding(rolloutDeadLetters);

  // Instance heal: persistent ENIs and Elastic IPs follow the proxy instances an ASG launches.
  const instanceHeal = new Function(stack, "InstanceHeal", {
    handler: "functions/instance-heal.handler",
    description: "proxy-fleet instance heal: persistent ENI + Elastic IP onto launching proxy instances",
    timeout: "5 minutes",
    environment: { STATE_TABLE: state.tableName, POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet", POWERTOOLS_SERVICE_NAME: "instance-heal" },
  });
  state.grantReadWriteData(instanceHeal);
  instanceHeal.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeAddresses", "autoscaling:DescribeAutoScalingInstances"],
    resources: ["*"],
  }));
  instanceHeal.addToRolePolicy(new iam.PolicyStatement({
    actions: ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute", "ec2:AssociateAddress"],
    resources: ["*"],
  }));
  instanceHeal.addToRolePolicy(new iam.PolicyStatement({
    actions: ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
    resources: [Stack.of(stack).formatArn({ service: "autoscaling", resource: "autoScalingGroup", resourceName: "*:autoScalingGroupName/proxy-fleet-*" })],
  }));
  const healDeadLetters = new sqs.Queue(stack, "InstanceHealDeadLetters", { enforceSSL: true, retentionPeriod: Duration.days(14) });
  const healTarget = new targets.LambdaFunction(instanceHeal, { deadLetterQueue: healDeadLetters, retryAttempts: 5, maxEventAge: Duration.minutes(30) });
  new events.Rule(stack, "InstanceHealOnLaunch", {
    description: "proxy-fleet: a proxy instance waits in Pending:Wait for its persistent ENI",
    eventPattern: {
      source: ["aws.autoscaling"],
      detailType: ["EC2 Instance-launch Lifecycle Action"],
      detail: { AutoScalingGroupName: events.Match.prefix("proxy-fleet-") },
    },
    targets: [healTarget],
  });
  new events.Rule(stack, "InstanceHealOnTermination", {
    description: "proxy-fleet: give a dying proxy instance's persistent ENI back early",
    eventPattern: { source: ["aws.ec2"], detailType: ["EC2 Instance State-change Notification"], detail: { state: ["shutting-down", "terminated"] } },
    targets: [healTarget],
  });
  waiveFunctionFindings(instanceHeal, "EC2 Describe* calls have no resource-level permissions; the ENIs and EIPs are found by tag at run time; X-Ray needs '*'.");
  waiveDeadLetterFinding(healDeadLetters);

  waiveFunctionFindings(dnsSync, "Target groups are named in fleet.yaml, which changes without a deploy; DescribeTargetHealth has no resource-level permissions; the bucket grants are prefix-scoped; X-Ray needs '*'.");
  waiveDeadLetterFinding(deadLetters);
  waiveSstInternals(stack);
  stack.addOutputs({ DnsSyncFunction: dnsSync.functionName, ConfigRolloutFunction: configRollout.functionName });
  return { dnsSync, configRollout, rolloutWatch, instanceHeal };
}
