// Starting each data-plane daemon in the foreground, the way its container runs it.
import { join } from "node:path";
import { startDaemon, type Daemon } from "./process.ts";

/** HAProxy in master-worker mode; the master socket takes `reload` for hitless reloads. */
export function startHaproxy(configFile: string, runDir: string): Daemon & { masterSocket: string } {
  const masterSocket = join(runDir, "haproxy-master.sock");
  return { ...startDaemon("haproxy", ["-W", "-S", masterSocket, "-f", configFile]), masterSocket };
}

export function startNginx(configFile: string, prefix: string): Daemon {
  return startDaemon("nginx", ["-p", prefix, "-c", configFile, "-g", "daemon off;"]);
}

/** Squid in the foreground; as root it drops to its effective user, who must own the run and log dirs. */
export function startSquid(configFile: string): Daemon {
  return startDaemon("squid", ["-N", "-f", configFile]);
}
