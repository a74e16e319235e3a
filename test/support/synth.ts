// Synthesizes SST stacks as `sst deploy` would (deploy mode, no AWS), with cdk-nag's AwsSolutions pack.
import { Aspects } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { App, getStack, type StackContext } from "sst/constructs";
import { initProject } from "sst/project.js";

type StackFunction = (ctx: StackContext) => unknown;

/** Adds the stacks in order (awaiting async ones) and returns the last one's template and nag findings. */
export async function synth(stacks: StackFunction[]) {
  await initProject({ stage: "test" });
  const app = new App({ mode: "deploy", stage: "test", name: "proxy-fleet", region: "us-east-1" });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  for (const fn of stacks) await app.stack(fn as never);
  const stack = getStack(stacks.at(-1) as never);
  const template = Template.fromStack(stack);
  /** Every AwsSolutions error or warning not waived with a reason, as "path: rule…". */
  const nagFindings = () =>
    [
      ...Annotations.fromStack(stack).findError("*", Match.stringLikeRegexp("AwsSolutions-.*")),
      ...Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("AwsSolutions-.*")),
    ].map((e) => `${e.id}: ${String(e.entry.data).slice(0, 160)}`);
  return { template, nagFindings };
}
