// Starting each data-plane daemon in the foreground, the way its container runs it, and stopping it
// gracefully: each daemon's own "stop accepting, finish open connections" signal.
import { join } from "node:path";
import { startDaemon, userIds, type Daemon, type DaemonOptions } from "./process.ts";

/** Options every daemon start takes: where its output lines go. */
export type StartOptions = Pick<DaemonOptions, "onLine">;

const isRoot = () => process.getuid?.() === 0;

/**
 * HAProxy in master-worker mode; the master socket takes `reload` for hitless reloads. `extraConfigs` are
 * further -f files (the agent's privilege drop, see haproxyUserConfig).
 */
export function startHaproxy(configFile: string, runDir: string, options: StartOptions & { extraConfigs?: readonly string[] } = {}): Daemon & { masterSocket: string } {
  const masterSocket = join(runDir, "haproxy-master.sock");
  const files = [configFile, ...(options.extraConfigs ?? [])].flatMap((f) => ["-f", f]);
  return { ...startDaemon("haproxy", ["-W", "-S", masterSocket, ...files], options), masterSocket };
}

/**
 * A global section that makes HAProxy's workers drop to user haproxy once the master (root) has bound the
 * listeners; HAProxy merges global sections across -f files. Undefined when not root or no such user.
 */
export function haproxyUserConfig(): string | undefined {
  if (!isRoot() || !userIds("haproxy")) return undefined;
  return "# proxy-fleet agent: workers run as haproxy, not root.\nglobal\n    user haproxy\n    group haproxy\n";
}

/** NGINX in the foreground; as root its workers run as www-data (the master keeps root to bind and reload). */
export function startNginx(configFile: string, prefix: string, options: StartOptions = {}): Daemon {
  return startDaemon("nginx", ["-p", prefix, "-c", configFile, "-g", nginxGlobals()], options);
}

/** The -g directives the agent adds; nginx -t must see the same ones. */
export function nginxGlobals(): string {
  return isRoot() && userIds("www-data") ? "daemon off; user www-data;" : "daemon off;";
}

/**
 * Squid in the foreground; as root it drops to its effective user `proxy`, who must own the run directory
 * and be able to reopen the output FIFO as /dev/stdout.
 */
export function startSquid(configFile: string, options: StartOptions = {}): Daemon {
  const proxy = isRoot() ? userIds("proxy") : undefined;
  return startDaemon("squid", ["-N", "-f", configFile], { ...options, ...(proxy ? { outputOwner: proxy } : {}) });
}

/**
 * The signal that makes each daemon stop accepting and finish open connections:
 *   HAProxy master: SIGUSR1 = soft-stop (workers exit once their connections close);
 *   NGINX master:   SIGQUIT = graceful shutdown (what `nginx -s quit` sends);
 *   Squid:          SIGTERM = shutdown after `shutdown_lifetime` (the renderer sets 3 s).
 */
export const DRAIN_SIGNAL = { haproxy: "SIGUSR1", nginx: "SIGQUIT", squid: "SIGTERM" } as const satisfies Record<string, NodeJS.Signals>;

/**
 * The signal that stops each daemon now, for a stop that follows a drain or a failure (nothing left to finish):
 *   HAProxy master: SIGTERM = hard-stop (HAProxy management guide, "Stopping and restarting HAProxy");
 *   NGINX master:   SIGTERM = fast shutdown (https://nginx.org/en/docs/control.html);
 *   Squid:          SIGINT = what `squid -k interrupt` sends (squid(8)): shutdown without waiting `shutdown_lifetime`
 *                   ("Waiting 0 seconds for active connections to finish"; SIGTERM waits it out even with no client:
 *                   measured 1.0 s against 4.0 s with the rendered 3 s).
 */
export const STOP_SIGNAL = { haproxy: "SIGTERM", nginx: "SIGTERM", squid: "SIGINT" } as const satisfies Record<string, NodeJS.Signals>;
