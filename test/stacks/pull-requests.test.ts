// The pull-request review stack, synthesized as `sst deploy` would, checked with CDK assertions and cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { PullRequests, REVIEW_ACTIONS, TEMPLATE_ACTIONS } from "../../stacks/PullRequests.ts";

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore, PullRequests]));
}, 180_000);

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
const statements = () => Object.values(template.findResources("AWS::IAM::Policy"))
  .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
/** A custom resource's Create/Update/Delete call, as CDK serializes it (a JSON string joined from tokens). */
const call = (resource: { Properties: Record<string, unknown> }, phase: "Create" | "Update" | "Delete") =>
  JSON.stringify(resource.Properties[phase] ?? null);

describe("PullRequests", () => {
  // "CodeCommit Pull Request State Change" events: pullRequestCreated, pullRequestSourceBranchUpdated and
  // pullRequestStatusChanged (a reopen is a status change to Open), as the CodeCommit user guide's
  // "Monitoring CodeCommit events in Amazon EventBridge" documents them.
  it("reviews pull requests into the tracked branch of the config repository only: opened, pushed to, reopened", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.codecommit"],
        "detail-type": ["CodeCommit Pull Request State Change"],
        resources: [Match.anyValue()],
        detail: {
          event: ["pullRequestCreated", "pullRequestSourceBranchUpdated", "pullRequestStatusChanged"],
          destinationReference: ["refs/heads/main"],
          pullRequestStatus: ["Open"],
        },
      },
      Targets: [Match.objectLike({ DeadLetterConfig: Match.anyValue(), RetryPolicy: Match.anyValue() })],
    });
  });

  it("runs the review on Node.js 22 with the repository, branch and bucket, an on-failure destination and logs that expire", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("pull-request review"),
      Runtime: "nodejs22.x",
      Environment: { Variables: Match.objectLike({ CONFIG_REPOSITORY: Match.anyValue(), CONFIG_BRANCH: "main", CONFIG_BUCKET: Match.anyValue() }) },
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", { MaximumRetryAttempts: 2, DestinationConfig: { OnFailure: { Destination: Match.anyValue() } } });
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
  });

  // CodeCommit permissions reference: pull-request and comment actions take the repository ARN; approval rule
  // template actions take only "*".
  it("grants the review its CodeCommit calls on the repository alone, and the accepted config read-only", () => {
    const review = statements().find((s) => [s.Action].flat().includes("codecommit:GetPullRequest"))!;
    expect([review.Action].flat().sort()).toEqual([...REVIEW_ACTIONS].sort());
    expect(JSON.stringify(review.Resource)).toMatch(/ConfigRepository/);
    expect(JSON.stringify(review.Resource)).not.toBe('"*"');
    const writes = statements().flatMap((s) => [s.Action].flat()).filter((a) => /^s3:(Put|Delete)/.test(a));
    expect(writes).toEqual([]);
    const template = statements().find((s) => [s.Action].flat().includes("codecommit:CreateApprovalRuleTemplate"))!;
    expect([template.Action].flat().sort()).toEqual([...TEMPLATE_ACTIONS].sort());
    expect(template.Resource).toBe("*");
  });

  // CloudFormation has no approval-rule-template resource; the template is made and associated by SDK calls, and on
  // removal disassociated before it is deleted (a template associated with a repository cannot be deleted).
  it("creates the approval rule template with the review's role as the pool and associates it; removal undoes both in order", () => {
    const entries = Object.entries(template.findResources("Custom::AWS")) as Array<[string, { Properties: Record<string, unknown>; DependsOn?: string[] }]>;
    const [templateId, templateResource] = entries.find(([, r]) => call(r, "Create").includes("CreateApprovalRuleTemplate"))!;
    const [, association] = entries.find(([, r]) => call(r, "Create").includes("AssociateApprovalRuleTemplateWithRepository"))!;
    const create = call(templateResource, "Create");
    expect(create).toContain('\\"approvalRuleTemplateName\\":\\"proxy-fleet-test_validation\\"');
    expect(create).toContain('\\\\\\"DestinationReferences\\\\\\":[\\\\\\"refs/heads/main\\\\\\"]');
    expect(create).toContain("NumberOfApprovalsNeeded");
    expect(create).toMatch(/:sts::.*:assumed-role\/.*PullRequestReview.*\/\*/s);
    expect(call(templateResource, "Update")).toContain("UpdateApprovalRuleTemplateContent");
    expect(call(templateResource, "Delete")).toContain("DeleteApprovalRuleTemplate");
    expect(call(association, "Delete")).toContain("DisassociateApprovalRuleTemplateFromRepository");
    // The association depends on the template: CloudFormation deletes it first.
    expect(association.DependsOn).toContain(templateId);
  });

  it("passes cdk-nag's AwsSolutions checks (waivers carry their documented reasons)", () => {
    expect(nagFindings()).toEqual([]);
  });
});
