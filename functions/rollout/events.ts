// The event shapes the rollout loops accept, as AWS documents them.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import * as z from "zod";

/** "CodeCommit Repository State Change": a reference was created, updated or deleted. */
export const CodeCommitStateChange = EventBridgeSchema.extend({
  "detail-type": z.literal("CodeCommit Repository State Change"),
  source: z.literal("aws.codecommit"),
  detail: z.object({
    event: z.string(),
    repositoryName: z.string().min(1),
    referenceType: z.string(),
    referenceName: z.string().min(1),
    commitId: z.string().optional(),
  }),
});
export type CodeCommitStateChange = z.infer<typeof CodeCommitStateChange>;

/** Why an event does not concern the tracked branch, or undefined when it does. */
export function ignoredBecause(event: CodeCommitStateChange, repository: string, branch: string): string | undefined {
  const d = event.detail;
  if (d.repositoryName !== repository) return `repository ${d.repositoryName} is not the config repository ${repository}`;
  if (d.referenceType !== "branch") return `${d.referenceType} ${d.referenceName} is not a branch`;
  if (d.referenceName !== branch) return `branch ${d.referenceName} is not the tracked branch ${branch}`;
  if (d.event !== "referenceCreated" && d.event !== "referenceUpdated") return `${d.event} does not add commits`;
  return undefined;
}

/** "ECS Deployment State Change". */
export const EcsDeploymentStateChange = EventBridgeSchema.extend({
  "detail-type": z.literal("ECS Deployment State Change"),
  source: z.literal("aws.ecs"),
  detail: z.object({
    eventType: z.string(),
    eventName: z.string(),
    deploymentId: z.string().min(1),
    updatedAt: z.string().optional(),
    reason: z.string().optional(),
  }),
});
