// What the task-targets loop needs from the outside world; functions/aws/ implements it against ECS,
// ELBv2 and the state table.
import type { LeaseStore, TargetGroupApi } from "../dns/ports.ts";
import type { TaskView } from "./plan.ts";

export interface TaskSource {
  /** The service's tasks whose desired status is RUNNING (ListTasks, then DescribeTasks). */
  runningTasks(cluster: string, service: string): Promise<TaskView[]>;
  /** The service's desiredCount; undefined when the service does not exist. */
  desiredCount(cluster: string, service: string): Promise<number | undefined>;
}

export interface TaskTargetPorts {
  readonly tasks: TaskSource;
  readonly targetGroups: TargetGroupApi;
  readonly leases: LeaseStore;
}
