// What every agent entry point shares: environment, one-line JSON logs, the poll loop that applies
// runtime targets, and a clean shutdown.
import type { Server } from "node:http";
import type { ResolvedTargets } from "../../functions/render/context.ts";
import type { TargetsSource } from "../../functions/aws/agent-sources.ts";
import type { ApplyResult } from "./agent.ts";

export function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function log(message: string, fields: object = {}): void {
  process.stdout.write(JSON.stringify({ agent: message, ...fields }) + "\n");
}

/** Polls the runtime target document every POLL_SECONDS and applies what changed; stops on SIGTERM/SIGINT. */
export function pollAndServe(
  agent: { applyTargets(targets: ResolvedTargets): Promise<ApplyResult> },
  targets: TargetsSource,
  health: Server,
  stop: () => Promise<void>,
): void {
  const timer = setInterval(async () => {
    try {
      const next = await targets.poll();
      if (next) log("runtime targets", { ...(await agent.applyTargets(next)) });
    } catch (error) {
      log("poll failed; the running config stays", { error: String(error) });
    }
  }, Number(env("POLL_SECONDS", "10")) * 1000);
  const shutdown = async () => {
    clearInterval(timer);
    health.close();
    await stop();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

export function exitOnFailure(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    log("failed to start", { error: String(error) });
    process.exit(1);
  });
}
