// Lambda: the task-targets loop. Keeps every listener target group beyond an ECS service's native one
// equal to the IPs of the service's running tasks. Triggered by "ECS Task State Change" and a schedule.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import { z } from "zod";
import { eventHandler, powertools } from "./lambda.ts";

const tools = powertools("task-targets");

const TaskTargetsEvent = EventBridgeSchema;

export const handler = eventHandler(tools, TaskTargetsEvent, async (event) => {
  tools.logger.info("task-targets: not wired yet", { detailType: event["detail-type"] });
  return { services: [] as string[] } satisfies Record<string, unknown> & { services: z.infer<z.ZodArray<z.ZodString>> };
});
