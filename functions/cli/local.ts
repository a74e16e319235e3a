// `fleet local <repo>`: validate, render every service for this machine (loopback, a local folder) and
// run each daemon's own check on what was rendered. IPsec and firewall checks run in a throwaway network
// namespace, so the host's rules are never touched.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { startCharon } from "../../containers/agent/charon.ts";
import { checkHaproxy, checkIptables, checkNginx, checkSquid, loadSwanctl, type CheckResult } from "../../containers/agent/checks.ts";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import { loadFleet, type FleetModel, type ServiceModel, type ServiceModelOf } from "../fleet/load.ts";
import { renderBundle } from "../render/bundle.ts";
import { contextWith, type ResolvedTargets } from "../render/context.ts";
import { SECRETS_DIR, renderSwanctlSecrets } from "../render/strongswan.ts";
import { MemoryTree } from "../fleet/tree.ts";
import { LocalFleet } from "../local/fleet.ts";
import { formatLocated, hostsFileText, parseZone, zoneTargets } from "../local/hosts.ts";
import { startStatusServer } from "../local/status-server.ts";
import { startLocalVpn, type LocalVpn } from "../local/vpn.ts";
import { statusEndpointFile } from "./status.ts";

export { hostsFileText };

export interface LocalReport {
  readonly service: string;
  readonly kind: ServiceModel["kind"];
  readonly hash: string;
  readonly dir: string;
  readonly checks: Array<{ file: string } & CheckResult>;
}

/**
 * Renders and checks every service. `targets` (fleet local --hosts) stands in for DNS: strongSwan rules name
 * hosts resolved from it, and Squid reads it as its hosts_file, so what is checked is what would run.
 */
export async function renderAndCheckLocally(model: FleetModel, workDir: string, targets: ResolvedTargets = {}): Promise<LocalReport[]> {
  const root = resolve(workDir);
  const isRoot = process.getuid?.() === 0;
  await mkdir(root, { recursive: true });
  const squidHostsFile = await writeSquidHosts(root, targets);
  const netns = isRoot ? await NetworkNamespace.create("pflocal") : undefined;
  try {
    const charon = netns && model.services.some((s) => s.kind === "strongswan" && !s.noIpsec)
      ? await startCharon({ dir: join(root, ".charon"), netns: netns.name })
      : undefined;
    try {
      const reports: LocalReport[] = [];
      for (const service of model.services) {
        const dir = join(root, service.name);
        const runDir = join(dir, "run");
        await mkdir(join(runDir, SECRETS_DIR), { recursive: true });
        const bundle = renderBundle(service, contextWith({
          bundleDir: dir, runDir, logDir: runDir, listenAddress: "127.0.0.1", targets,
          ...(service.kind === "squid" ? { squidHostsFile } : {}),
        }));
        for (const [name, content] of Object.entries(bundle.files)) await writeFile(join(dir, name), content);
        const checks: LocalReport["checks"] = [];
        const check = async (file: string, result: Promise<CheckResult>) => checks.push({ file, ...(await result) });
        switch (service.kind) {
          case "haproxy": await check("haproxy.cfg", checkHaproxy(join(dir, "haproxy.cfg"))); break;
          case "nginx": await check("nginx.conf", checkNginx(join(dir, "nginx.conf"), runDir)); break;
          case "squid": await check("squid.conf", checkSquid(join(dir, "squid.conf"))); break;
          case "strongswan":
            if (netns) await check("iptables.rules", checkIptables(bundle.files["iptables.rules"]!, netns.name));
            if (charon && !service.noIpsec) {
              // Local checks use placeholder keys; real keys come from SSM / Secrets Manager in the container.
              const keys = Object.fromEntries(service.connections.map((c) => [c.name, Buffer.from(`local-check-${c.name}`)]));
              await writeFile(join(runDir, SECRETS_DIR, "local.conf"), renderSwanctlSecrets(service, keys), { mode: 0o600 });
              await check("swanctl.conf", loadSwanctl(join(dir, "swanctl.conf"), charon.viciUri, netns!.name, charon.env));
            }
            break;
        }
        reports.push({ service: service.name, kind: service.kind, hash: bundle.hash, dir, checks });
      }
      return reports;
    } finally {
      await charon?.stop();
    }
  } finally {
    await netns?.destroy();
  }
}

async function writeSquidHosts(dir: string, hosts: ResolvedTargets): Promise<string> {
  const file = join(dir, "squid-hosts");
  await writeFile(file, hostsFileText(hosts));
  return file;
}

/**
 * A hosts file (`name: [addresses]` or `name: { addresses: [...], ttl: 30 }`) as name → addresses; the first
 * error (file:line: error[rule]: …) is thrown, so a typo fails here and not as a silent maintenance server.
 */
export function parseHosts(text: string, file: string): Record<string, string[]> {
  const { zone, errors } = parseZone(text, file);
  if (errors.length > 0) throw new Error(errors.map(formatLocated).join("\n"));
  return zoneTargets(zone);
}

export interface RunLocalOptions {
  /** The folder `fleet local` checked: the seed of the repository when there is none yet. */
  readonly seed: string;
  /** The git repository the loops follow; default <work>/repo, created from `seed` on first run. */
  readonly repo?: string;
  readonly branch?: string;
  readonly workDir: string;
  readonly hostsFile: string;
  readonly portOffset: number;
  /** The status page's port (0: any free one). */
  readonly statusPort?: number;
}

/** Where the running local fleet writes its status page's URL, for `fleet status`. */
/**
 * `fleet local --run`: the control loops on this machine until SIGINT/SIGTERM, then everything stopped
 * (generations, front listeners, DNS server, VPN namespaces, the status page).
 */
export async function runLocalFleet(options: RunLocalOptions, out: (text: string) => void, stopSignal?: Promise<void>): Promise<void> {
  const workDir = resolve(options.workDir);
  const fleet = await LocalFleet.start({
    repo: options.repo ?? join(workDir, "repo"), branch: options.branch ?? "main", seed: options.seed, workDir,
    hostsFile: options.hostsFile, portOffset: options.portOffset, out,
  });
  const vpns = await startVpns(fleet, workDir, out);
  // DNS changes reach the VPN's rules as they reach the generations.
  fleet.onTargets(async (service, targets) => vpns.get(service)?.applyTargets(targets));
  // A commit that changes a running strongSwan service is deployed to its instance, as ECS does on AWS.
  fleet.onStrongswanDeploy(async (service, model) => vpns.get(service)?.deploy(model));
  const status = await startStatusServer(fleet.board, {
    ...(options.statusPort !== undefined ? { port: options.statusPort } : {}),
    endpointFile: statusEndpointFile(workDir),
    actions: {
      loseInstance: async (service: string) => {
        const vpn = vpns.get(service);
        if (!vpn) throw new Error(`${service} is not a strongSwan service running locally`);
        return vpn.loseInstance();
      },
    },
  });
  try {
    for (const s of fleet.board.snapshot().services) {
      out(`${s.service} (${s.kind}) on 127.0.0.1:${s.ports.join(",")}: generation ${s.active?.generation ?? "none"} ${s.active?.health ?? "not running"}\n`);
    }
    out(`status page: ${status.url}\n`);
    out(`config repository: ${fleet.repository.dir} (branch ${options.branch ?? "main"}): commit there to roll out; edit ${options.hostsFile} to change DNS\n`);
    out("local fleet running; Ctrl-C stops it\n");
    await (stopSignal ?? new Promise<void>((resolveStop) => {
      const onSignal = () => {
        fleet.shutdown();
        resolveStop();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
    }));
  } finally {
    out("stopping the local fleet\n");
    await status.close();
    await Promise.all([...vpns.values()].map((v) => v.stop()));
    await fleet.stop();
  }
}

/** strongSwan services run in network namespaces (as root) with a simulated peer; otherwise they are only checked. */
async function startVpns(fleet: LocalFleet, workDir: string, out: (text: string) => void): Promise<Map<string, LocalVpn>> {
  const vpns = new Map<string, LocalVpn>();
  const snapshot = await fleet.bundles.load();
  const loaded = snapshot ? await loadFleet(new MemoryTree({ ...snapshot.files })) : undefined;
  // A service without IPsec (port forwards only) has no tunnel to run: it is only checked.
  const services = (loaded?.ok ? loaded.model.services : []).filter((s): s is ServiceModelOf<"strongswan"> => s.kind === "strongswan" && !s.noIpsec);
  if (services.length === 0) return vpns;
  if (process.getuid?.() !== 0) {
    out(`strongSwan services (${services.map((s) => s.name).join(", ")}) are only checked: running them needs root (network namespaces)\n`);
    return vpns;
  }
  for (const service of services) {
    try {
      vpns.set(service.name, await startLocalVpn(service, { board: fleet.board, workDir: join(workDir, "vpn", service.name), hosts: fleet.zoneTargets() }));
      out(`${service.name} (strongswan) running in network namespaces with a simulated peer\n`);
    } catch (error) {
      fleet.board.event("error", "vpn", `${service.name}: ${(error as Error).message}`);
      out(`error: ${service.name} (strongswan) did not start: ${(error as Error).message}\n`);
    }
  }
  return vpns;
}
