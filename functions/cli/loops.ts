// `fleet plan --loop <loop>` and `fleet invoke <loop> --event <file>`: the reconcilers run from a shell.
// plan reads everything and writes nothing; invoke runs the real Lambda handler in-process with the real
// SDK clients and the standard AWS environment (credentials, AWS_REGION, AWS_ENDPOINT_URL…).
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { DirectoryTree, recordingTree } from "../fleet/tree.ts";
import { loadFleet } from "../fleet/load.ts";
import { durationMs } from "../fleet/duration.ts";
import { memoryDnsPorts } from "../dns/memory.ts";
import { LookupSchedule } from "../dns/ports.ts";
import { createDnsClient } from "../dns/resolve.ts";
import { syncDns, type SyncPorts, type SyncReport } from "../dns/sync.ts";
import { formatIssue } from "../fleet/issues.ts";
import { folderRepository, MemoryRolloutState } from "../rollout/memory.ts";
import { reconcileRollout, type RolloutPorts } from "../rollout/run.ts";

export const LOOPS = {
  "dns-sync": "../dns-sync.ts",
  "config-rollout": "../config-rollout.ts",
  "rollout-watch": "../rollout-watch.ts",
  "instance-heal": "../instance-heal.ts",
  "task-targets": "../task-targets.ts",
  "pull-request": "../pull-request.ts",
} as const;
export type LoopName = keyof typeof LOOPS;

export function isLoop(name: string | undefined): name is LoopName {
  return name !== undefined && name in LOOPS;
}

/** Lambda's context object, as much of it as handlers and Powertools read. */
export function localContext(functionName: string): Context {
  return {
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION ?? "us-east-1"}:000000000000:function:${functionName}`,
    memoryLimitInMB: "512",
    awsRequestId: `local-${Date.now()}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 900_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export async function invokeLoop(loop: LoopName, eventFile: string): Promise<unknown> {
  const event = JSON.parse(await readFile(eventFile, "utf8")) as unknown;
  const module = (await import(LOOPS[loop])) as { handler: (event: unknown, context: Context) => Promise<unknown> };
  return module.handler(event, localContext(loop));
}

/**
 * The DNS loop's plan. With CONFIG_BUCKET and STATE_TABLE set it reads the deployed state from AWS;
 * with --repo it plans a first run of that folder's config against live DNS and empty state.
 */
export async function planDnsSync(repo: string | undefined, out: (text: string) => void): Promise<number> {
  let ports: SyncPorts;
  if (repo) {
    const tree = recordingTree(new DirectoryTree(repo));
    const loaded = await loadFleet(tree);
    if (!loaded.ok) {
      for (const error of loaded.errors) out(formatIssue(error) + "\n");
      return 1;
    }
    ports = memoryDnsPorts({ commit: `local:${resolve(repo)}`, files: tree.readFiles() }, () =>
      createDnsClient({ servers: loaded.model.dns.resolvers, timeoutMs: durationMs(loaded.model.dns.timeout) }));
  } else {
    const { dnsSyncPorts } = await import("../aws/dns-sync-ports.ts");
    ports = dnsSyncPorts(new LookupSchedule());
  }
  const report = await syncDns({ scope: "due" }, ports, { now: Date.now(), dryRun: true });
  out(formatDnsPlan(report));
  return 0;
}

export function formatDnsPlan(report: SyncReport): string {
  if (report.skipped) return `dns-sync: nothing to do (${report.skipped})\n`;
  const lines = [`dns-sync plan for commit ${report.commit}`, "", "lookups (name, who answered, the answer, the change):"];
  for (const r of report.looked) {
    const change = [
      ...r.added.map((a) => `+${a}`), ...r.removed.map((a) => `-${a}`), ...r.held.map((a) => `held:${a}`),
    ].join(" ");
    const source = r.source === "zone" ? `zone ${r.zone ?? ""}`.trim() : r.why ? `resolver (${r.why})` : "resolver";
    const answer = r.observation === "failure" ? `failure (${r.failure}), last known good kept`
      : r.observation === "answer" ? `answer ${r.answer.join(" ")}` : r.observation;
    lines.push(`  ${r.record.padEnd(40)} ${source.padEnd(22)} ${answer}${change ? `  ${change}` : ""}`);
  }
  if (report.looked.length === 0) lines.push("  (none due)");
  lines.push("", "runtime target documents to write:");
  for (const d of report.documents) lines.push(`  ${d.service} ${d.hash}`);
  if (report.documents.length === 0) lines.push("  (none)");
  lines.push("", "target groups:");
  const checks = {
    changed: "desired targets changed", full: "full check", skip: "unchanged since its last converge: not described",
    deferred: "full check due, left to a later run",
  } as const;
  for (const g of report.targetGroups) {
    lines.push(`  ${g.group} (${g.arn})${g.check ? `  [${checks[g.check]}]` : ""}`);
    for (const t of g.register) lines.push(`    register    ${t.id}:${t.port}`);
    for (const t of g.deregister) lines.push(`    deregister  ${t.id}:${t.port}`);
    for (const s of g.skipped) lines.push(`    skip        ${s.address}: ${s.reason}`);
    if (g.register.length + g.deregister.length + g.skipped.length === 0) lines.push("    (in sync)");
  }
  if (report.targetGroups.length === 0) lines.push("  (none configured)");
  return lines.join("\n") + "\n";
}

/**
 * The rollout loop's plan: what the tracked branch's head would roll out. With the AWS environment it
 * compares against the deployed state; with --repo it plans that folder against nothing deployed yet.
 */
export async function planConfigRollout(repo: string | undefined, out: (text: string) => void): Promise<number> {
  let ports: RolloutPorts;
  if (repo) {
    const unused = async (): Promise<never> => { throw new Error("a plan writes nothing"); };
    ports = {
      repository: folderRepository(repo),
      branch: "working-tree",
      bundles: { putBundle: unused, putAccepted: unused },
      deployer: { registerRevision: unused, updateService: unused },
      state: new MemoryRolloutState(),
      events: { publish: unused },
      targets: JSON.parse(process.env.ECS_SERVICES ?? "{}") as RolloutPorts["targets"],
    };
  } else {
    const { rolloutPorts } = await import("../aws/rollout-ports.ts");
    ports = rolloutPorts();
  }
  const outcome = await reconcileRollout(ports, { dryRun: true });
  switch (outcome.kind) {
    case "rejected":
      out(`config-rollout: ${outcome.commit} would be rejected; nothing would roll out:\n`);
      for (const error of outcome.errors) out(`  ${formatIssue(error)}\n`);
      return 1;
    case "accepted":
      out(`config-rollout plan for ${outcome.commit}\n`);
      for (const a of outcome.actions) out(`  ${a.service.padEnd(24)} ${a.action.padEnd(13)} ${a.hash}\n`);
      if (!repo) {
        // What each service's files become, against the accepted config the fleet runs (as `fleet diff <dir>` shows it).
        const { diffAgainstDeployed } = await import("./diff.ts");
        out(`\ndiff against the deployed config:\n${await diffAgainstDeployed(ports.repository.treeAt(outcome.commit))}`);
      }
      return 0;
    default:
      out(`config-rollout: nothing to do (${outcome.kind} at ${outcome.commit})\n`);
      return 0;
  }
}

/** The task-targets loop's plan, against the deployed state (TASK_TARGET_GROUPS, AWS credentials). */
export async function planTaskTargets(out: (text: string) => void): Promise<number> {
  const { taskTargetPorts, taskTargetSettings } = await import("../aws/task-targets-ports.ts");
  const { reconcileService } = await import("../targets/reconcile.ts");
  const ports = taskTargetPorts();
  for (const spec of taskTargetSettings()) {
    const plan = await reconcileService(spec, ports, { now: Date.now(), runId: "plan", dryRun: true });
    out(`task-targets plan for ${plan.service}: tasks at ${plan.addresses.join(", ") || "(none)"}${plan.held ? ` — deregistrations held: ${plan.held}` : ""}\n`);
    if (plan.changes.length === 0) out("  no change\n");
    for (const c of plan.changes) {
      out(`  ${c.arn}\n${[...c.register.map((t) => `    +${t.id}:${t.port}`), ...c.deregister.map((t) => `    -${t.id}:${t.port}`)].join("\n")}\n`);
    }
  }
  return 0;
}
