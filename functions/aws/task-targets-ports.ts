// The task-targets loop's ports, wired to AWS from the Lambda environment:
//   TASK_TARGET_GROUPS  JSON: [{ "cluster": "<cluster ARN>", "service": "<ECS service>", "targetGroups": [{ "arn", "port" }] }]
//   STATE_TABLE         per-service leases (one writer per service)
import { parseTaskTargetGroups } from "../targets/events.ts";
import type { ServiceTargets } from "../targets/plan.ts";
import type { TaskTargetPorts } from "../targets/ports.ts";
import { dynamoClient, ecsClient, elbClient, requireEnv } from "./clients.ts";
import { ecsTaskSource } from "./ecs-tasks.ts";
import { leaseStore } from "./state-table.ts";
import { targetGroupApi } from "./target-groups.ts";

export function taskTargetSettings(): ServiceTargets[] {
  return parseTaskTargetGroups(process.env.TASK_TARGET_GROUPS);
}

export function taskTargetPorts(instrument: <T>(client: T) => T = (c) => c): TaskTargetPorts {
  return {
    tasks: ecsTaskSource(instrument(ecsClient())),
    targetGroups: targetGroupApi(instrument(elbClient())),
    leases: leaseStore(instrument(dynamoClient()), requireEnv("STATE_TABLE")),
  };
}
