// cdk-nag's AwsSolutions pack runs on every stack. SST adds a custom-resource Lambda of its own to each
// stack (stack metadata); its role and runtime are SST's choice, not ours, so only those findings are waived.
import type { Stack } from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";

export function waiveSstInternals(stack: Stack): void {
  const handler = stack.node.tryFindChild("CustomResourceHandler");
  if (!handler) return;
  NagSuppressions.addResourceSuppressions(handler, [
    { id: "AwsSolutions-IAM4", reason: "SST's stack-metadata custom resource uses the basic Lambda execution role." },
    { id: "AwsSolutions-L1", reason: "SST pins the runtime of its stack-metadata custom resource." },
  ], true);
}
