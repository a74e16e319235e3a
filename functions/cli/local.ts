// `fleet local <repo>`: validate, render every service for this machine (loopback, a local folder) and
// run each daemon's own check on what was rendered. IPsec and firewall checks run in a throwaway network
// namespace, so the host's rules are never touched.
import { chown, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { startCharon } from "../../containers/agent/charon.ts";
import { checkHaproxy, checkIptables, checkNginx, checkSquid, loadSwanctl, type CheckResult } from "../../containers/agent/checks.ts";
import { Agent } from "../../containers/agent/agent.ts";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run } from "../../containers/agent/process.ts";
import { parse as parseYaml } from "yaml";
import type { FleetModel, ServiceModel } from "../fleet/load.ts";
import { listenPorts, localPortClashes, shiftPorts } from "../fleet/listeners.ts";
import { isDnsName, isIpAddress, normalizeDnsName } from "../fleet/net.ts";
import { renderBundle } from "../render/bundle.ts";
import { contextWith, type ResolvedTargets } from "../render/context.ts";
import { SECRETS_DIR, renderSwanctlSecrets } from "../render/strongswan.ts";

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

export interface LocalFleetOptions {
  /** Added to every listen port, so the fleet never collides with the machine's own services. */
  readonly portOffset: number;
  /** Name → addresses, standing in for DNS (no lookup leaves the machine). */
  readonly hosts: Readonly<Record<string, readonly string[]>>;
}

export interface RunningService {
  readonly service: string;
  readonly kind: ServiceModel["kind"];
  readonly ports: readonly number[];
  readonly agent: Agent;
}

/**
 * Runs the fleet's HAProxy, NGINX and Squid services on loopback through the same agent the containers run,
 * with targets from `hosts`. strongSwan services need a host of their own; locally they are only checked.
 */
export async function startLocalFleet(model: FleetModel, workDir: string, options: LocalFleetOptions): Promise<RunningService[]> {
  const clashes = localPortClashes(model.services, options.portOffset);
  if (clashes.length > 0) throw new Error(clashes.join("\n"));
  const running: RunningService[] = [];
  const runRoot = join(resolve(workDir), "run");
  await mkdir(runRoot, { recursive: true });
  // Squid resolves names itself: it gets the same stand-in answers as a hosts_file, its DNS sockets on loopback.
  const squidHostsFile = await writeSquidHosts(runRoot, options.hosts);
  try {
    for (const original of model.services) {
      if (original.kind === "strongswan") continue;
      const service = shiftPorts(original, options.portOffset);
      const dir = join(resolve(workDir), "run", service.name);
      await mkdir(join(dir, "run"), { recursive: true });
      if (service.kind === "squid" && process.getuid?.() === 0) await chownToProxy(join(dir, "run"));
      const bundle = renderBundle(service);
      const agent = await Agent.start({ fetch: async () => bundle }, {
        bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), logDir: join(dir, "run"), listenAddress: "127.0.0.1",
        targets: options.hosts, ...(service.kind === "squid" ? { squidHostsFile } : {}),
      });
      running.push({ service: service.name, kind: service.kind, ports: listenPorts(service), agent });
    }
    return running;
  } catch (error) {
    await Promise.all(running.map((r) => r.agent.stop()));
    throw error;
  }
}

/** The stand-in DNS answers as a hosts file ("address name" per line) that Squid's hosts_file reads. */
export function hostsFileText(hosts: ResolvedTargets): string {
  const lines = Object.keys(hosts).sort().flatMap((name) => [...new Set(hosts[name])].map((address) => `${address} ${name}`));
  return lines.join("\n") + (lines.length > 0 ? "\n" : "");
}

async function writeSquidHosts(dir: string, hosts: ResolvedTargets): Promise<string> {
  const file = join(dir, "squid-hosts");
  await writeFile(file, hostsFileText(hosts));
  return file;
}

async function chownToProxy(dir: string): Promise<void> {
  const id = await run("id", ["-u", "proxy"]);
  if (id.code === 0) await chown(dir, Number(id.stdout.trim()), Number(id.stdout.trim()));
}

/** A hosts file: `name: [addresses]`, validated, so a typo fails here and not as a silent maintenance server. */
export function parseHosts(text: string, file: string): Record<string, string[]> {
  const parsed = parseYaml(text) as unknown;
  if (!parsed || typeof parsed !== "object") throw new Error(`${file}: expected a mapping of names to address lists`);
  const hosts: Record<string, string[]> = {};
  for (const [name, addresses] of Object.entries(parsed as Record<string, unknown>)) {
    if (!isDnsName(name)) throw new Error(`${file}: "${name}" is not a valid DNS name`);
    if (!Array.isArray(addresses) || !addresses.every((a) => typeof a === "string" && isIpAddress(a))) {
      throw new Error(`${file}: ${name} must list IP addresses`);
    }
    hosts[normalizeDnsName(name)] = addresses as string[];
  }
  return hosts;
}
