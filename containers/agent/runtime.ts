// What every agent entry point shares: environment, one-line JSON logs (the agent's own and each daemon's
// lines, tagged by daemon), the stop signal handled from the first line, the poll loop that applies
// runtime targets, and an exit status ECS can act on.
import type { Server } from "node:http";
import type { ResolvedTargets } from "../../functions/render/context.ts";
import type { TargetsSource } from "../../functions/aws/agent-sources.ts";
import type { ApplyResult } from "./agent.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { DaemonExit } from "./process.ts";

export function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function log(message: string, fields: object = {}): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), agent: message, ...fields }) + "\n");
}

/** One line a daemon wrote, as a JSON line of the container's output, tagged by daemon. */
export function logDaemonLine(daemon: string, line: string): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), daemon, line }) + "\n");
}

/**
 * How long a stop may take before the agent gives up draining: ECS sends SIGKILL 30 s (the task
 * definition's stopTimeout) after SIGTERM, and the agent must have exited 0 before that.
 */
export const DRAIN_MS = 20_000;

/**
 * The agent's life: created on the entry point's first line, so SIGTERM/SIGINT are handled even during
 * start-up (Node as PID 1 has no default handler). Stopping runs the registered cleanups newest first
 * and exits 0; a daemon that dies on its own exits 1, so ECS replaces the task.
 */
export class Lifecycle {
  private readonly cleanups: Array<() => Promise<void>> = [];
  private stopping = false;

  private readonly exit: (code: number) => void;

  constructor(exit: (code: number) => void = (code) => process.exit(code)) {
    this.exit = exit;
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void this.stop(`received ${signal}`));
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Registers something to undo on stop (newest first). */
  onStop(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  async stop(reason: string, code = 0): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    log("stopping", { reason });
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log("cleanup failed", { error: String(error) });
      }
    }
    log("stopped", { exitCode: code });
    this.exit(code);
  }

  /**
   * Ends the agent with status 1 when the daemon exits without being asked to. The agent never restarts a
   * daemon itself: ECS replaces the task, and that replacement is what DaemonRestarts counts.
   */
  supervise(name: string, daemon: { exited: Promise<DaemonExit>; output(): string }, metrics?: Pick<AgentMetrics, "emit">): void {
    void daemon.exited.then((exit) => {
      if (this.stopping) return;
      metrics?.emit({ DaemonRestarts: 1 });
      log("daemon exited; stopping the task so it is replaced", { daemon: name, ...exit, lastOutput: daemon.output().split("\n").slice(-20) });
      void this.stop(`${name} exited`, 1);
    });
  }

  /** Runs the start-up; a failure is logged with its reason and ends the agent with status 1. */
  run(main: () => Promise<void>): void {
    main().catch((error: unknown) => {
      log("failed to start", { error: error instanceof Error ? error.message : String(error) });
      void this.stop("start-up failed", 1);
    });
  }
}

/** Polls the runtime target document every POLL_SECONDS and applies what changed, until the agent stops. */
export function pollAndServe(
  lifecycle: Lifecycle,
  agent: { applyTargets(targets: ResolvedTargets): Promise<ApplyResult> },
  targets: TargetsSource,
  health: Server,
  metrics?: AgentMetrics,
): void {
  const timer = setInterval(async () => {
    if (lifecycle.isStopping) return;
    try {
      const next = await targets.poll();
      if (!next) return;
      const result = await agent.applyTargets(next);
      log("runtime targets", { ...result });
      metrics?.applied(result);
    } catch (error) {
      log("poll failed; the running config stays", { error: String(error) });
    }
  }, Number(env("POLL_SECONDS", "10")) * 1000);
  lifecycle.onStop(async () => {
    clearInterval(timer);
    health.close();
    health.closeAllConnections();
  });
}

/**
 * Samples the data plane's gauges every METRICS_SECONDS (10 by default) until the agent stops; a sample
 * still running when the next is due is skipped, so a slow daemon never piles samples up.
 */
export function sampleMetrics(lifecycle: Lifecycle, sample: () => Promise<void>): void {
  let busy = false;
  const timer = setInterval(async () => {
    if (lifecycle.isStopping || busy) return;
    busy = true;
    try {
      await sample();
    } catch (error) {
      log("metrics sample failed", { error: String(error) });
    } finally {
      busy = false;
    }
  }, Number(env("METRICS_SECONDS", "10")) * 1000);
  lifecycle.onStop(async () => clearInterval(timer));
}
