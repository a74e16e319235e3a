// "CodeCommit Pull Request State Change", as the CodeCommit user guide documents it ("Monitoring CodeCommit
// events in Amazon EventBridge": pullRequestCreated, pullRequestSourceBranchUpdated, pullRequestStatusChanged).
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import * as z from "zod";

export const PullRequestStateChange = EventBridgeSchema.extend({
  "detail-type": z.literal("CodeCommit Pull Request State Change"),
  source: z.literal("aws.codecommit"),
  detail: z.object({
    event: z.string(),
    pullRequestId: z.string().min(1),
    pullRequestStatus: z.string(),
    repositoryNames: z.array(z.string()).min(1),
    destinationReference: z.string().min(1),
    sourceCommit: z.string().min(1),
    destinationCommit: z.string().optional(),
    revisionId: z.string().optional(),
  }),
});
export type PullRequestStateChange = z.infer<typeof PullRequestStateChange>;

/** The events that bring a pull request's source commit up for review: opened, pushed to, reopened. */
const REVIEWED_EVENTS = new Set(["pullRequestCreated", "pullRequestSourceBranchUpdated", "pullRequestStatusChanged"]);

/** Why an event is not reviewed, or undefined when it is. */
export function ignoredBecause(event: PullRequestStateChange, repository: string, branch: string): string | undefined {
  const d = event.detail;
  if (!d.repositoryNames.includes(repository)) return `repository ${d.repositoryNames.join(", ")} is not the config repository ${repository}`;
  if (d.destinationReference !== `refs/heads/${branch}`) return `the pull request goes into ${d.destinationReference}, not the tracked branch ${branch}`;
  if (!REVIEWED_EVENTS.has(d.event)) return `${d.event} does not change what is reviewed`;
  if (d.pullRequestStatus !== "Open") return `the pull request is ${d.pullRequestStatus}`;
  return undefined;
}
