// Review before merge: a Lambda on every pull request into the tracked branch of the config repository (opened,
// pushed to, reopened) that validates, renders and diffs its head and approves or revokes through an approval rule
// template associated with the repository, so the "proxy-fleet validation" approval gates the merge.
//
// CloudFormation has no approval-rule-template resource (AWS::CodeCommit has Repository only), so two SDK calls
// made by a custom resource create the template and associate it, and undo both on removal: the association is
// deleted first (a template still associated with a repository cannot be deleted: ApprovalRuleTemplateInUseException).
import { Aws, Duration, Stack, aws_events as events, aws_iam as iam } from "aws-cdk-lib";
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from "aws-cdk-lib/custom-resources";
import { NagSuppressions } from "cdk-nag";
import { use, type StackContext } from "sst/constructs";
import { ConfigStore } from "./ConfigStore.ts";
import { loopFunction } from "./loops.ts";
import { waiveFunctionFindings, waiveSstInternals } from "./nag.ts";
import { stageName } from "./settings.ts";

/** The repository calls the review makes (CodeCommit permissions reference: each scoped to the repository ARN). */
export const REVIEW_ACTIONS = [
  "codecommit:GetPullRequest", "codecommit:GetDifferences", "codecommit:GetFile", "codecommit:GetCommentsForPullRequest",
  "codecommit:PostCommentForPullRequest", "codecommit:UpdateComment", "codecommit:UpdatePullRequestApprovalState",
];

/**
 * Approval rule template calls: the CodeCommit permissions reference ("Permissions for actions on approval rule
 * templates") lists "*" as their only resource.
 */
export const TEMPLATE_ACTIONS = [
  "codecommit:CreateApprovalRuleTemplate", "codecommit:UpdateApprovalRuleTemplateContent", "codecommit:DeleteApprovalRuleTemplate",
  "codecommit:AssociateApprovalRuleTemplateWithRepository", "codecommit:DisassociateApprovalRuleTemplateFromRepository",
];

/** The events that put a pull request's head up for review ("Monitoring CodeCommit events", CodeCommit user guide). */
export const REVIEWED_EVENTS = ["pullRequestCreated", "pullRequestSourceBranchUpdated", "pullRequestStatusChanged"];

export function PullRequests({ stack }: StackContext) {
  const { bundles, repository, trackedBranch } = use(ConfigStore);
  const stage = stack.stage;

  const review = loopFunction(stack, "PullRequestReview", {
    handler: "functions/pull-request.handler",
    description: `proxy-fleet ${stage} pull-request review: is the change valid, and what would change on which proxy`,
    timeout: 300,
    memorySize: "1024 MB",
    environment: {
      CONFIG_REPOSITORY: repository.repositoryName,
      CONFIG_BRANCH: trackedBranch,
      CONFIG_BUCKET: bundles.bucketName,
      POWERTOOLS_SERVICE_NAME: "pull-request",
      POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
    },
  }, { maxEventAge: Duration.hours(1), retryAttempts: 2 });
  repository.grant(review.fn, ...REVIEW_ACTIONS);
  // The accepted config is the baseline; the review writes nothing to the bucket.
  bundles.grantRead(review.fn, "accepted/*");

  new events.Rule(stack, "PullRequestReviewOnChange", {
    description: `proxy-fleet ${stage}: a pull request into the tracked branch was opened, pushed to or reopened`,
    eventPattern: {
      source: ["aws.codecommit"],
      detailType: ["CodeCommit Pull Request State Change"],
      resources: [repository.repositoryArn],
      detail: { event: REVIEWED_EVENTS, destinationReference: [`refs/heads/${trackedBranch}`], pullRequestStatus: ["Open"] },
    },
    targets: [review.target],
  });

  // The review's role is the approval pool: Lambda's sessions are assumed-role/<role>/<function name>.
  const templateName = stageName(stage, "validation");
  const content = stack.toJsonString({
    Version: "2018-11-08",
    DestinationReferences: [`refs/heads/${trackedBranch}`],
    Statements: [{
      Type: "Approvers", NumberOfApprovalsNeeded: 1,
      ApprovalPoolMembers: [`arn:${Aws.PARTITION}:sts::${Aws.ACCOUNT_ID}:assumed-role/${review.fn.role!.roleName}/*`],
    }],
  });
  const templatePolicy = AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: TEMPLATE_ACTIONS, resources: ["*"] })]);
  const template = new AwsCustomResource(stack, "ValidationApprovalTemplate", {
    onCreate: {
      service: "CodeCommit", action: "CreateApprovalRuleTemplate",
      parameters: {
        approvalRuleTemplateName: templateName, approvalRuleTemplateContent: content,
        approvalRuleTemplateDescription: `proxy-fleet validation (${stage}): the config of a pull request into ${trackedBranch} is valid`,
      },
      physicalResourceId: PhysicalResourceId.of(templateName),
    },
    onUpdate: {
      service: "CodeCommit", action: "UpdateApprovalRuleTemplateContent",
      parameters: { approvalRuleTemplateName: templateName, newRuleContent: content },
      physicalResourceId: PhysicalResourceId.of(templateName),
    },
    onDelete: { service: "CodeCommit", action: "DeleteApprovalRuleTemplate", parameters: { approvalRuleTemplateName: templateName } },
    policy: templatePolicy,
    installLatestAwsSdk: false,
  });
  const association = new AwsCustomResource(stack, "ValidationApprovalTemplateAssociation", {
    onCreate: {
      service: "CodeCommit", action: "AssociateApprovalRuleTemplateWithRepository",
      parameters: { approvalRuleTemplateName: templateName, repositoryName: repository.repositoryName },
      physicalResourceId: PhysicalResourceId.of(`${templateName}@${repository.repositoryName}`),
    },
    onDelete: {
      service: "CodeCommit", action: "DisassociateApprovalRuleTemplateFromRepository",
      parameters: { approvalRuleTemplateName: templateName, repositoryName: repository.repositoryName },
    },
    policy: templatePolicy,
    installLatestAwsSdk: false,
  });
  association.node.addDependency(template);

  waiveFunctionFindings(review.fn, "The bucket grant is prefix-scoped (accepted/*); X-Ray needs '*'.");
  for (const resource of [template, association]) {
    NagSuppressions.addResourceSuppressions(resource, [{
      id: "AwsSolutions-IAM5",
      reason: "Approval rule template actions take no resource ARN: the CodeCommit permissions reference lists '*' as their only resource.",
      appliesTo: ["Resource::*"],
    }], true);
  }
  waiveCustomResourceProvider(Stack.of(stack));
  waiveSstInternals(stack);
  stack.addOutputs({ PullRequestReviewFunction: review.fn.functionName, ApprovalRuleTemplate: templateName });
  return { review: review.fn, approvalRuleTemplate: templateName };
}

/** CDK's single provider Lambda behind every AwsCustomResource in a stack: its runtime and role are CDK's. */
function waiveCustomResourceProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild(AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, "").replace(/^/, "AWS"));
  if (!provider) return;
  NagSuppressions.addResourceSuppressions(provider, [
    { id: "AwsSolutions-IAM4", reason: "CDK's AwsCustomResource provider uses the basic Lambda execution role." },
    { id: "AwsSolutions-L1", reason: "CDK pins the runtime of its AwsCustomResource provider." },
  ], true);
}
