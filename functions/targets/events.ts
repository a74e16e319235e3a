// The event shapes the task-targets loop accepts, as AWS documents them, and what each asks it to look at.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import * as z from "zod";
import { ScheduledEvent } from "../lambda.ts";
import { serviceOfGroup, type ServiceTargets } from "./plan.ts";

/**
 * "ECS Task State Change" (ECS developer guide, "Amazon ECS task state change events"): the detail is the
 * task as DescribeTasks returns it; `group` is "service:<name>" for a service's task. Only the fields that
 * say which service to look at are required: the run reads the service's state itself.
 */
export const EcsTaskStateChange = EventBridgeSchema.extend({
  "detail-type": z.literal("ECS Task State Change"),
  source: z.literal("aws.ecs"),
  detail: z.object({
    clusterArn: z.string().startsWith("arn:"),
    taskArn: z.string().startsWith("arn:"),
    group: z.string().optional(),
    lastStatus: z.string(),
    desiredStatus: z.string(),
  }),
});

export const TaskTargetsEvent = z.discriminatedUnion("detail-type", [ScheduledEvent, EcsTaskStateChange]);
export type TaskTargetsEvent = z.infer<typeof TaskTargetsEvent>;

/** The configured services an event asks to look at now; empty when the task is none of theirs. */
export function servicesFor(event: TaskTargetsEvent, configured: readonly ServiceTargets[]): ServiceTargets[] {
  if (event["detail-type"] === "Scheduled Event") return [...configured];
  const { clusterArn, group } = (event as z.infer<typeof EcsTaskStateChange>).detail;
  const service = serviceOfGroup(group);
  return configured.filter((s) => s.cluster === clusterArn && s.service === service);
}

/** TASK_TARGET_GROUPS, validated: a wrong setting is a deploy mistake, reported by name at cold start. */
export const TaskTargetGroups = z.array(z.object({
  cluster: z.string().regex(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255}$/, "must be an ECS cluster ARN"),
  service: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, "must be an ECS service name"),
  targetGroups: z.array(z.object({
    arn: z.string().regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/, "must be a target group ARN"),
    port: z.number().int().min(1).max(65535),
  })).min(1),
}));

export function parseTaskTargetGroups(json: string | undefined): ServiceTargets[] {
  if (!json) throw new Error("environment variable TASK_TARGET_GROUPS is not set");
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new Error(`TASK_TARGET_GROUPS is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = TaskTargetGroups.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`TASK_TARGET_GROUPS is invalid: ${problems.join("; ")}`);
  }
  return parsed.data;
}
