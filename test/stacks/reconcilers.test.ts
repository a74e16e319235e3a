// The reconcilers stack, synthesized as `sst deploy` would, checked with CDK assertions and cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { Reconcilers } from "../../stacks/Reconcilers.ts";
import { StrongswanSites } from "../../stacks/StrongswanSites.ts";
import { DNS_SYNC_OLD_SPACE_MB } from "../../functions/dns/sync.ts";

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore, Network, ProxyServices, StrongswanSites, Reconcilers]));
}, 180_000);

describe("Reconcilers", () => {
  // New accounts have a concurrency quota of 10, all of which must stay unreserved
  // (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html): reserving any fails the deploy.
  it("runs the loops on Node.js 22 without reserved concurrency (the state table's leases serialize them)", () => {
    const functions = Object.values(template.findResources("AWS::Lambda::Function", { Properties: { Description: Match.stringLikeRegexp("^proxy-fleet") } }));
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      expect((fn as { Properties: Record<string, unknown> }).Properties).toMatchObject({ Runtime: "nodejs22.x" });
      expect((fn as { Properties: Record<string, unknown> }).Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
  });

  // EventBridge invokes Lambda asynchronously; failed invocations are retried and then dropped unless the function has
  // an on-failure destination (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
  it("gives every loop an event age, retries and an on-failure destination, and logs that expire", () => {
    template.resourceCountIs("AWS::Lambda::EventInvokeConfig", 4);
    template.allResourcesProperties("AWS::Lambda::EventInvokeConfig", {
      MaximumEventAgeInSeconds: Match.anyValue(), MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
    template.resourceCountIs("AWS::Logs::LogGroup", 4);
    template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
  });

  // A Lambda outside a VPC cannot query the VPC resolver or private hosted zones
  // (https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html).
  it("runs DNS sync inside the VPC's private subnets", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("DNS sync"),
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
    });
  });

  it("triggers it every minute and on Route 53 ChangeResourceRecordSets, with a dead-letter queue", () => {
    template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(1 minute)" });
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.route53"],
        "detail-type": ["AWS API Call via CloudTrail"],
        detail: { eventSource: ["route53.amazonaws.com"], eventName: ["ChangeResourceRecordSets"] },
      },
      Targets: [Match.objectLike({ DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }) })],
    });
  });

  it("says at deploy that Route 53 events rely on an existing trail when it creates none", () => {
    expect(template.toJSON().Outputs.Route53Events.Value).toMatch(/^relies on an existing CloudTrail trail \(PROXY_FLEET_CREATE_TRAIL=true creates one\)/);
    template.resourceCountIs("AWS::CloudTrail::Trail", 0);
  });

  it("also runs right after a config is accepted", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["proxy-fleet"], "detail-type": ["Config Accepted"], detail: { repository: [Match.objectLike({})] } },
    });
  });

  it("may register and deregister targets, and read the target health", () => {
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    for (const action of ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:DescribeTargetHealth", "events:PutEvents"]) {
      expect(policies).toContain(action);
    }
  });

  it("passes cdk-nag's AwsSolutions pack with no unexplained findings", () => {
    expect(nagFindings()).toEqual([]);
  });
});

describe("config rollout", () => {
  it("runs on pushes to the tracked branch of the config repository only", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: Match.objectLike({
        source: ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        detail: { event: ["referenceCreated", "referenceUpdated"], referenceType: ["branch"], referenceName: ["main"] },
      }),
    });
  });

  // ECS deployment events name the service's ARN (service/<cluster>/<service>) in resources
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html).
  it("watches only this stage's clusters' ECS deployments", () => {
    const rules = Object.values(template.findResources("AWS::Events::Rule", { Properties: { EventPattern: { "detail-type": ["ECS Deployment State Change"] } } }));
    expect(rules).toHaveLength(1);
    const pattern = JSON.stringify((rules[0] as { Properties: { EventPattern: unknown } }).Properties.EventPattern);
    expect(pattern).toMatch(/"resources":\[\{"prefix":.*:service\/proxy-fleet-test_proxies\/"\]\]\}\},\{"prefix":.*:service\/proxy-fleet-test_strongswan\/"\]\]\}\}\]/);
  });

  it("may register task definitions and update services, and pass roles only to ECS tasks", () => {
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    for (const action of ["ecs:RegisterTaskDefinition", "ecs:UpdateService", "codecommit:PostCommentForComparedCommit", "codecommit:GetFile"]) {
      expect(policies).toContain(action);
    }
    expect(policies).toContain('"iam:PassedToService":"ecs-tasks.amazonaws.com"');
  });

  it("passes only the proxy tasks' own roles, and updates only this stage's services", () => {
    const statements = Object.values(template.findResources("AWS::IAM::Policy"))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement);
    const passRole = statements.find((s) => [s.Action].flat().includes("iam:PassRole"))!;
    expect(passRole.Resource).not.toEqual("*");
    expect([passRole.Resource].flat()).toHaveLength(10); // task + execution role of 3 proxy and 2 strongSwan services
    const update = statements.find((s) => [s.Action].flat().includes("ecs:UpdateService"))!;
    expect(JSON.stringify(update.Resource)).toMatch(/service\/proxy-fleet-test_proxies\/\*.*service\/proxy-fleet-test_strongswan\/\*/);
  });
});

describe("task targets", () => {
  it("runs on this stage's proxy cluster's task state changes and every minute, and may touch only its target groups", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["aws.ecs"], "detail-type": ["ECS Task State Change"], detail: { clusterArn: [Match.objectLike({})] } },
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("task targets"),
      Environment: { Variables: Match.objectLike({ TASK_TARGET_GROUPS: Match.anyValue(), STATE_TABLE: Match.anyValue(), POWERTOOLS_SERVICE_NAME: "task-targets" }) },
    });
    const statements = Object.values(template.findResources("AWS::IAM::Policy"))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[] } } }).Properties.PolicyDocument.Statement);
    const listTasks = statements.find((s) => [s.Action].flat().includes("ecs:ListTasks"))!;
    expect(JSON.stringify(listTasks.Condition)).toMatch(/^\{"ArnEquals":\{"ecs:cluster":.*:ecs:us-east-1:.*:cluster\/proxy-fleet-test_proxies"/);
    const register = statements.filter((s) => [s.Action].flat().includes("elasticloadbalancing:RegisterTargets"));
    // The DNS loop's statement is tag-scoped; the task-targets loop's names its groups (examples/: 2 + 1 beyond the natives).
    expect(register.map((s) => [s.Resource].flat().length).sort()).toEqual([1, 3]);
  });
});

describe("wiring", () => {
  it("tells the rollout loop which ECS service runs each fleet service", () => {
    const functions = JSON.stringify(template.findResources("AWS::Lambda::Function", { Properties: { Description: Match.stringLikeRegexp("config rollout") } }));
    for (const service of ["onprem-router", "lattice-ingress", "egress", "datacenter-vpn", "partner-forward"]) {
      expect(functions).toContain(`\\"${service}\\":{\\"cluster\\":\\"`);
    }
  });
});

describe("dns sync", () => {
  // Lambda's Node.js runtimes take V8 flags from NODE_OPTIONS (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html);
  // the cap is the one bench/dns-plan.bench.ts measures with.
  // A TransactWriteItems is allowed by the permissions of its actions: Put by dynamodb:PutItem, ConditionCheck by
  // dynamodb:ConditionCheckItem (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
  it("may take a group's lease and claim it in one transaction on the state table (PutItem, ConditionCheckItem)", () => {
    const [role] = Object.values(template.findResources("AWS::Lambda::Function", { Properties: { Description: Match.stringLikeRegexp("DNS sync") } }))
      .map((f) => (f as { Properties: { Role: { "Fn::GetAtt": [string, string] } } }).Properties.Role["Fn::GetAtt"][0]);
    const statements = Object.values(template.findResources("AWS::IAM::Policy"))
      .filter((p) => JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(`"${role}"`))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement);
    // The state table lives in the ConfigStore stack: its ARN comes in as that stack's export.
    const onTable = statements.filter((s) => /"Fn::ImportValue":".*ConfigStore:.*State[0-9A-F]+Arn/.test(JSON.stringify(s.Resource))).flatMap((s) => [s.Action].flat());
    expect(onTable).toEqual(expect.arrayContaining(["dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"]));
  });

  it("caps V8's old space at the benched size", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("DNS sync"),
      MemorySize: 512,
      Environment: { Variables: Match.objectLike({ NODE_OPTIONS: `--max-old-space-size=${DNS_SYNC_OLD_SPACE_MB}` }) },
    });
  });
});
