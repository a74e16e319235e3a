// The task-targets loop over 5 services × 50 listeners (49 reconciled groups each) × 20 tasks: a run where one
// task of each service is replaced, then a no-change run. Prints CPU, wall, and the API calls each run makes.
import { performance } from "node:perf_hooks";
import type { TargetRef } from "../functions/plan/target-groups.ts";
import type { ServiceTargets, TaskView } from "../functions/targets/plan.ts";
import type { TaskTargetPorts } from "../functions/targets/ports.ts";
import { reconcileService } from "../functions/targets/reconcile.ts";
import { peakRssMiB, report } from "./measure.ts";

const SERVICES = 5;
const GROUPS = 49;
const TASKS = 20;
const CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/proxy-fleet";

const specs: ServiceTargets[] = Array.from({ length: SERVICES }, (_, s) => ({
  cluster: CLUSTER, service: `router-${s}`,
  targetGroups: Array.from({ length: GROUPS }, (_, g) => ({
    arn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/r${s}-l${g}/${(s * 100 + g).toString(16).padStart(16, "0")}`, port: 10001 + g,
  })),
}));
const tasks = new Map<string, TaskView[]>(specs.map((spec, s) => [spec.service, Array.from({ length: TASKS }, (_, t) => ({
  arn: `task-${s}-${t}`, lastStatus: "RUNNING", desiredStatus: "RUNNING", privateIPv4: `10.${s}.${t}.10`,
}))]));
const groups = new Map<string, Map<string, TargetRef>>();
const calls: Record<string, number> = {};
const count = (api: string) => (calls[api] = (calls[api] ?? 0) + 1);

const ports: TaskTargetPorts = {
  tasks: {
    runningTasks: async (_cluster, service) => (count("ListTasks"), count("DescribeTasks"), tasks.get(service)!),
    desiredCount: async () => (count("DescribeServices"), TASKS),
  },
  targetGroups: {
    describe: async (arn) => (count("DescribeTargetHealth"), [...(groups.get(arn)?.values() ?? [])]),
    register: async (arn, targets) => {
      count("RegisterTargets");
      const group = groups.get(arn) ?? new Map<string, TargetRef>();
      for (const t of targets) group.set(`${t.id}:${t.port}`, t);
      groups.set(arn, group);
    },
    deregister: async (arn, targets) => {
      count("DeregisterTargets");
      for (const t of targets) groups.get(arn)?.delete(`${t.id}:${t.port}`);
    },
  },
  leases: { acquire: async () => (count("lease PutItem"), true), release: async () => void count("lease DeleteItem") },
};

async function run(label: string) {
  for (const key of Object.keys(calls)) delete calls[key];
  const cpu = process.cpuUsage();
  const start = performance.now();
  let registered = 0;
  let deregistered = 0;
  for (const spec of specs) {
    const outcome = await reconcileService(spec, ports, { now: Date.now(), runId: "bench" });
    registered += outcome.changes.reduce((n, c) => n + c.register.length, 0);
    deregistered += outcome.changes.reduce((n, c) => n + c.deregister.length, 0);
  }
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  report(`task-targets, ${SERVICES} services × ${GROUPS} groups × ${TASKS} tasks: ${label}`, [
    { name: "CPU (user+system)", value: (used.user + used.system) / 1000, unit: "ms" },
    { name: "wall", value: wallMs, unit: "ms" },
    { name: "targets registered", value: registered, unit: "" },
    { name: "targets deregistered", value: deregistered, unit: "" },
    ...Object.entries(calls).sort().map(([api, n]) => ({ name: `calls ${api}`, value: n, unit: "" })),
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}

await run("first run (empty groups)");
for (const [s, list] of [...tasks.values()].entries()) list[0] = { arn: `task-${s}-new`, lastStatus: "RUNNING", desiredStatus: "RUNNING", privateIPv4: `10.${s}.99.10` };
await run("one task replaced per service");
await run("no change");
