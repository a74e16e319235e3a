// One run of the task-targets loop for one ECS service. Level-triggered: whatever event asked, the run
// observes the service's tasks and its groups' targets and applies the difference. A run with nothing to
// change writes nothing and takes no lease; otherwise it takes the service's lease (one writer per
// service), observes again under it, and applies: every registration before any deregistration.
import { batches, type TargetRef } from "../plan/target-groups.ts";
import { planServiceTargets, type ServiceObservation, type ServicePlan, type ServiceTargets } from "./plan.ts";
import type { TaskTargetPorts } from "./ports.ts";
import { mapLimit } from "../plan/concurrency.ts";

export interface ReconcileOptions {
  readonly now: number;
  /** Names this run as a lease holder. */
  readonly runId: string;
  /** Plan only: read everything, write nothing. */
  readonly dryRun?: boolean;
  /** Targets per RegisterTargets/DeregisterTargets call. */
  readonly batchSize?: number;
  /** Target groups read or written at once. */
  readonly concurrency?: number;
}

export type ServiceOutcome = ServicePlan & {
  /** Another run held this service's lease: it converges the groups, this run changed nothing. */
  readonly busy?: true;
};

/** Longer than a run can last (the function's timeout, stacks' LOOP_TIMEOUTS.taskTargets, is 2 minutes); a dead holder's lease expires by itself. */
export const LEASE_MS = 3 * 60_000;
const DEFAULT_BATCH = 100;
const DEFAULT_CONCURRENCY = 8;

export const leaseName = (spec: ServiceTargets) => `task-targets#${spec.cluster}#${spec.service}`;

export async function observeService(spec: ServiceTargets, ports: TaskTargetPorts, concurrency = DEFAULT_CONCURRENCY): Promise<ServiceObservation> {
  const [tasks, desiredCount, registered] = await Promise.all([
    ports.tasks.runningTasks(spec.cluster, spec.service),
    ports.tasks.desiredCount(spec.cluster, spec.service),
    mapLimit(spec.targetGroups, concurrency, async (g) => [g.arn, await ports.targetGroups.describe(g.arn)] as const),
  ]);
  return { tasks, desiredCount, registered: new Map(registered) };
}

export async function reconcileService(spec: ServiceTargets, ports: TaskTargetPorts, options: ReconcileOptions): Promise<ServiceOutcome> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const first = planServiceTargets(spec, await observeService(spec, ports, concurrency));
  if (options.dryRun || first.changes.length === 0) return first;

  const lease = leaseName(spec);
  if (!(await ports.leases.acquire(lease, options.runId, options.now, LEASE_MS))) return { ...first, changes: [], busy: true };
  try {
    const plan = planServiceTargets(spec, await observeService(spec, ports, concurrency));
    const size = options.batchSize ?? DEFAULT_BATCH;
    const calls = (pick: (c: ServicePlan["changes"][number]) => readonly TargetRef[]) =>
      plan.changes.flatMap((c) => batches(pick(c), size).map((batch) => ({ arn: c.arn, batch })));
    await mapLimit(calls((c) => c.register), concurrency, ({ arn, batch }) => ports.targetGroups.register(arn, batch));
    await mapLimit(calls((c) => c.deregister), concurrency, ({ arn, batch }) => ports.targetGroups.deregister(arn, batch));
    return plan;
  } finally {
    await ports.leases.release(lease, options.runId);
  }
}
