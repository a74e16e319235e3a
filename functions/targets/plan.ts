// Task targets: the listener target groups beyond an ECS service's native one follow the IPs of the
// service's running tasks. An ECS service may have at most five load-balancer target groups (ECS developer
// guide, "Registering multiple target groups with an Amazon ECS service"), so a service with more listeners
// keeps one native group and this plan keeps the others. A plan is data; the adapter only applies it.
//
//   task (ListTasks/DescribeTasks)                      in the group   action
//   -------------------------------------------------   ------------   ----------
//   lastStatus RUNNING, desiredStatus RUNNING, has IP   no             register
//   lastStatus RUNNING, desiredStatus RUNNING, has IP   yes            —
//   anything else (pending, stopping, stopped, no IP)   yes            deregister (the NLB drains it)
//   —                                                   yes, no task   deregister
//
// The groups are created by the stack for this alone, so every target in them is the service's. One guard:
// a service that wants tasks (desiredCount > 0) but reports none running is mid-deployment or answering
// stale; deregistering everything then would cut all traffic, so the plan holds its deregistrations.
// Registrations go before deregistrations, so a changing set never passes through empty.
import { isIPv4 } from "../fleet/net.ts";
import type { TargetRef } from "../plan/target-groups.ts";
import { targetKey } from "../plan/target-groups.ts";

export interface TaskTargetGroup {
  readonly arn: string;
  readonly port: number;
}

/** One ECS service and the target groups that follow its tasks (TASK_TARGET_GROUPS). */
export interface ServiceTargets {
  /** Cluster ARN. */
  readonly cluster: string;
  /** ECS service name. */
  readonly service: string;
  readonly targetGroups: readonly TaskTargetGroup[];
}

export interface TaskView {
  readonly arn: string;
  readonly lastStatus?: string;
  readonly desiredStatus?: string;
  /** privateIPv4Address of the task's ENI attachment (awsvpc). */
  readonly privateIPv4?: string;
}

export interface ServiceObservation {
  readonly tasks: readonly TaskView[];
  /** undefined when DescribeServices did not find the service. */
  readonly desiredCount: number | undefined;
  /** Registered targets of each group (draining ones excluded), by group ARN. */
  readonly registered: ReadonlyMap<string, readonly TargetRef[]>;
}

export interface GroupChange {
  readonly arn: string;
  readonly register: readonly TargetRef[];
  readonly deregister: readonly TargetRef[];
}

export interface ServicePlan {
  readonly cluster: string;
  readonly service: string;
  /** The task IPs the groups should hold, sorted. */
  readonly addresses: readonly string[];
  /** Groups with something to change, in configuration order. */
  readonly changes: readonly GroupChange[];
  /** Why deregistrations were held back (then `changes` carries registrations only). */
  readonly held?: string;
}

/** The address a task serves on, when it should serve at all. */
export function servingAddress(task: TaskView): string | undefined {
  if (task.lastStatus !== "RUNNING" || task.desiredStatus !== "RUNNING") return undefined;
  return task.privateIPv4 !== undefined && isIPv4(task.privateIPv4) ? task.privateIPv4 : undefined;
}

const byKey = (a: TargetRef, b: TargetRef) => (targetKey(a) < targetKey(b) ? -1 : targetKey(a) > targetKey(b) ? 1 : 0);

export function planServiceTargets(spec: ServiceTargets, observed: ServiceObservation): ServicePlan {
  const addresses = [...new Set(observed.tasks.map(servingAddress).filter((a): a is string => a !== undefined))].sort();
  let held: string | undefined;
  if (addresses.length === 0) {
    if (observed.desiredCount === undefined) held = `ECS service ${spec.service} was not found in ${spec.cluster}`;
    else if (observed.desiredCount > 0) held = `ECS service ${spec.service} wants ${observed.desiredCount} task(s) but reports none running`;
  }
  const changes: GroupChange[] = [];
  for (const group of spec.targetGroups) {
    const desired = new Map<string, TargetRef>(addresses.map((id) => [targetKey({ id, port: group.port }), { id, port: group.port }]));
    const registered = new Map<string, TargetRef>((observed.registered.get(group.arn) ?? []).map((t) => [targetKey(t), t]));
    const register = [...desired].filter(([key]) => !registered.has(key)).map(([, t]) => t).sort(byKey);
    const deregister = held ? [] : [...registered].filter(([key]) => !desired.has(key)).map(([, t]) => t).sort(byKey);
    if (register.length > 0 || deregister.length > 0) changes.push({ arn: group.arn, register, deregister });
  }
  return { cluster: spec.cluster, service: spec.service, addresses, changes, ...(held ? { held } : {}) };
}

/** The ECS service a task belongs to, from its `group` ("service:<name>"); undefined for standalone tasks. */
export function serviceOfGroup(group: string | undefined): string | undefined {
  return group?.startsWith("service:") ? group.slice("service:".length) : undefined;
}
