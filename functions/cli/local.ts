// `fleet local <repo>`: validate, render every service for this machine (loopback, a local folder) and
// run each daemon's own check on what was rendered. IPsec and firewall checks run in a throwaway network
// namespace, so the host's rules are never touched.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { startCharon } from "../../containers/agent/charon.ts";
import { checkHaproxy, checkIptables, checkNginx, checkSquid, loadSwanctl, type CheckResult } from "../../containers/agent/checks.ts";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import type { FleetModel, ServiceModel } from "../fleet/load.ts";
import { renderBundle } from "../render/bundle.ts";
import { contextWith } from "../render/context.ts";
import { SECRETS_DIR, renderSwanctlSecrets } from "../render/strongswan.ts";

export interface LocalReport {
  readonly service: string;
  readonly kind: ServiceModel["kind"];
  readonly hash: string;
  readonly dir: string;
  readonly checks: Array<{ file: string } & CheckResult>;
}

export async function renderAndCheckLocally(model: FleetModel, workDir: string): Promise<LocalReport[]> {
  const root = resolve(workDir);
  const isRoot = process.getuid?.() === 0;
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
        const bundle = renderBundle(service, contextWith({ bundleDir: dir, runDir, logDir: runDir, listenAddress: "127.0.0.1" }));
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
