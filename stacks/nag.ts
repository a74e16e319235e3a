// cdk-nag's AwsSolutions pack runs on every stack. SST adds a custom-resource Lambda of its own to each
// stack (stack metadata); its role and runtime are SST's choice, not ours, so only those findings are waived.
import type { Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { NagSuppressions } from "cdk-nag";

export function waiveSstInternals(stack: Stack): void {
  // CDK's log-retention Lambda (one per stack, behind every function's logRetention) sets retention on any log group.
  for (const child of stack.node.children.filter((c) => c.node.id.startsWith("LogRetention"))) {
    NagSuppressions.addResourceSuppressions(child, [
      { id: "AwsSolutions-IAM4", reason: "CDK's log-retention Lambda uses the basic Lambda execution role.", appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"] },
      { id: "AwsSolutions-IAM5", reason: "CDK's log-retention Lambda sets retention on log groups it learns of at deploy time.", appliesTo: ["Resource::*"] },
    ], true);
  }
  const handler = stack.node.tryFindChild("CustomResourceHandler");
  if (!handler) return;
  NagSuppressions.addResourceSuppressions(handler, [
    { id: "AwsSolutions-IAM4", reason: "SST's stack-metadata custom resource uses the basic Lambda execution role." },
    { id: "AwsSolutions-L1", reason: "SST pins the runtime of its stack-metadata custom resource." },
  ], true);
}

type Finding = string | { regex: string };

/** What every loop's role shares: X-Ray and Describe-style reads on "*", CDK's prefix-scoped bucket grants. */
const COMMON_WILDCARDS: Finding[] = [
  "Resource::*",
  { regex: "/^Action::s3:(Abort|DeleteObject|GetBucket|GetObject|List)\\*$/" },
  { regex: "/^Resource::.*Bundles.*\\/(accepted|bundles|runtime)\\/\\*$/" },
];

/**
 * The findings every proxy-fleet Lambda shares, with the reason for its wildcard permissions; each waiver applies
 * only to the findings named (`wildcards`: this function's own scoped patterns, on top of the common ones).
 */
export function waiveFunctionFindings(fn: IConstruct, wildcardReason: string, wildcards: Finding[] = []): void {
  NagSuppressions.addResourceSuppressions(fn, [
    { id: "AwsSolutions-L1", reason: "proxy-fleet pins Node.js 22 (nodejs22.x) everywhere: the CLI, the tests and the Lambdas run one runtime." },
    {
      id: "AwsSolutions-IAM4", reason: "SST functions log through the AWS managed basic execution role (and, in a VPC, its VPC access role).",
      appliesTo: ["basic", "VPCAccess"].map((role) => `Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambda${role === "basic" ? "Basic" : "VPCAccess"}ExecutionRole`),
    },
    { id: "AwsSolutions-IAM5", reason: wildcardReason, appliesTo: [...COMMON_WILDCARDS, ...wildcards] },
  ], true);
}

/** A nag `appliesTo` pattern for resources of `service` under this stage's names (`proxy-fleet-<stage>_`). */
export const stageScoped = (service: string, resource: string, stagePrefix: string): Finding => ({
  regex: `/^Resource::arn:<AWS::Partition>:${service}:[^:]+:[^:]+:${resource}${stagePrefix.replace(/[-_]/g, (c) => `\\${c}`)}.*$/`,
});

export function waiveDeadLetterFinding(queue: IConstruct): void {
  NagSuppressions.addResourceSuppressions(queue, [
    { id: "AwsSolutions-SQS3", reason: "This queue is itself the dead-letter queue of the EventBridge targets." },
  ]);
}
