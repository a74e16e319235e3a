// cdk-nag's AwsSolutions pack runs on every stack. SST adds a custom-resource Lambda of its own to each
// stack (stack metadata); its role and runtime are SST's choice, not ours, so only those findings are waived.
import type { Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { NagSuppressions } from "cdk-nag";

export function waiveSstInternals(stack: Stack): void {
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
