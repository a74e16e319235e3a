// An ECS service's tasks and desired count, for the task-targets loop.
import { DescribeServicesCommand, DescribeTasksCommand, paginateListTasks, type ECSClient, type Task } from "@aws-sdk/client-ecs";
import { batches } from "../plan/target-groups.ts";
import type { TaskView } from "../targets/plan.ts";
import type { TaskSource } from "../targets/ports.ts";

/** DescribeTasks takes at most 100 task ARNs per call (ECS API reference, DescribeTasks "tasks"). */
export const DESCRIBE_TASKS_LIMIT = 100;

/** The private IPv4 address of a task's ENI attachment (awsvpc network mode). */
export function taskView(task: Task): TaskView {
  const eni = task.attachments?.find((a) => a.type === "ElasticNetworkInterface" || a.type === "eni");
  const privateIPv4 = eni?.details?.find((d) => d.name === "privateIPv4Address")?.value;
  return {
    arn: task.taskArn ?? "",
    ...(task.lastStatus ? { lastStatus: task.lastStatus } : {}),
    ...(task.desiredStatus ? { desiredStatus: task.desiredStatus } : {}),
    ...(privateIPv4 ? { privateIPv4 } : {}),
  };
}

export function ecsTaskSource(client: ECSClient): TaskSource {
  return {
    async runningTasks(cluster, serviceName) {
      const arns: string[] = [];
      for await (const page of paginateListTasks({ client }, { cluster, serviceName, desiredStatus: "RUNNING" })) {
        arns.push(...(page.taskArns ?? []));
      }
      const tasks: TaskView[] = [];
      for (const chunk of batches(arns, DESCRIBE_TASKS_LIMIT)) {
        const { tasks: described = [] } = await client.send(new DescribeTasksCommand({ cluster, tasks: chunk }));
        tasks.push(...described.map(taskView));
      }
      return tasks;
    },
    async desiredCount(cluster, service) {
      const { services = [] } = await client.send(new DescribeServicesCommand({ cluster, services: [service] }));
      const found = services.find((s) => s.serviceName === service && s.status !== "INACTIVE");
      return found?.desiredCount;
    },
  };
}
