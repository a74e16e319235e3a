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

/** The findings every proxy-fleet Lambda shares, with the reason for its wildcard permissions. */
export function waiveFunctionFindings(fn: IConstruct, wildcardReason: string): void {
  NagSuppressions.addResourceSuppressions(fn, [
    { id: "AwsSolutions-L1", reason: "proxy-fleet pins Node.js 22 (nodejs22.x) everywhere: the CLI, the tests and the Lambdas run one runtime." },
    { id: "AwsSolutions-IAM4", reason: "SST functions log through the AWS managed basic execution role." },
    { id: "AwsSolutions-IAM5", reason: wildcardReason },
  ], true);
}

export function waiveDeadLetterFinding(queue: IConstruct): void {
  NagSuppressions.addResourceSuppressions(queue, [
    { id: "AwsSolutions-SQS3", reason: "This queue is itself the dead-letter queue of the EventBridge targets." },
  ]);
}
