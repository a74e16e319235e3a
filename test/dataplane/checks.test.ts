// Every rendered file of the example and the fixtures passes the real daemon's own check.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCharon, type Charon } from "../../containers/agent/charon.ts";
import { checkHaproxy, checkIptables, checkNginx, checkSquid, loadSwanctl } from "../../containers/agent/checks.ts";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import type { FleetModel, ServiceModel } from "../../functions/fleet/load.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith, type ResolvedTargets } from "../../functions/render/context.ts";
import { SECRETS_DIR, renderSwanctlSecrets } from "../../functions/render/strongswan.ts";
import { FIXTURES, FIXTURE_TARGETS, loadExample, loadOrThrow } from "../support/fixtures.ts";
import { tempDir } from "../support/tmp.ts";

let netns: NetworkNamespace;
let charon: Charon;
let work: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  work = await tempDir("checks");
  netns = await NetworkNamespace.create("pfchk");
  charon = await startCharon({ dir: join(work.path, "charon"), netns: netns.name });
});

afterAll(async () => {
  await charon?.stop();
  await netns?.destroy();
  await work?.cleanup();
});

let counter = 0;

/** Renders one service into its own folder, as the agent would lay it out, and runs its daemon's checks. */
async function renderAndCheck(service: ServiceModel, targets: ResolvedTargets) {
  const dir = join(work.path, `${service.name}-${++counter}`);
  const bundleDir = join(dir, "bundle");
  const runDir = join(dir, "run");
  await mkdir(bundleDir, { recursive: true });
  await mkdir(join(runDir, SECRETS_DIR), { recursive: true });
  const files = renderFiles(service, contextWith({ bundleDir, runDir, logDir: runDir, listenAddress: "127.0.0.1", targets }));
  for (const [name, content] of Object.entries(files)) await writeFile(join(bundleDir, name), content);

  const results: Array<{ file: string; ok: boolean; output: string }> = [];
  const record = (file: string) => (r: { ok: boolean; output: string }) => results.push({ file, ...r });
  switch (service.kind) {
    case "haproxy":
      record("haproxy.cfg")(await checkHaproxy(join(bundleDir, "haproxy.cfg")));
      break;
    case "nginx":
      record("nginx.conf")(await checkNginx(join(bundleDir, "nginx.conf"), runDir));
      break;
    case "squid":
      record("squid.conf")(await checkSquid(join(bundleDir, "squid.conf")));
      break;
    case "strongswan": {
      record("iptables.rules")(await checkIptables(files["iptables.rules"]!, netns.name));
      if (!service.noIpsec) {
        const keys = Object.fromEntries(service.connections.map((c) => [c.name, Buffer.from(`psk-for-${c.name}`)]));
        await writeFile(join(runDir, SECRETS_DIR, "psk.conf"), renderSwanctlSecrets(service, keys));
        record("swanctl.conf")(await loadSwanctl(join(bundleDir, "swanctl.conf"), charon.viciUri, netns.name, charon.env));
      }
      break;
    }
  }
  return results;
}

async function fleets(): Promise<Array<[string, FleetModel]>> {
  const fixtures = await Promise.all(Object.entries(FIXTURES).map(async ([name, files]) => [name, await loadOrThrow(files)] as [string, FleetModel]));
  return [["example", await loadExample()], ...fixtures];
}

describe("rendered configs pass the daemons' own checks", () => {
  for (const resolved of [false, true]) {
    it(`every service of every fleet, with DNS ${resolved ? "resolved" : "not yet resolved"}`, async () => {
      const checked: string[] = [];
      for (const [fleet, model] of await fleets()) {
        for (const service of model.services) {
          for (const r of await renderAndCheck(service, resolved ? FIXTURE_TARGETS : {})) {
            expect(r.ok, `${fleet}/${service.name}/${r.file}:\n${r.output}`).toBe(true);
            checked.push(`${fleet}/${service.name}/${r.file}`);
          }
        }
      }
      // Example: haproxy, nginx, squid, iptables + swanctl (VPN), iptables (port forward). Fixture: one of each kind.
      expect(checked).toHaveLength(6 + 4);
    });
  }
});

describe("the checks reject broken files (so a pass means something)", () => {
  it("haproxy -c refuses an unknown keyword", async () => {
    const dir = join(work.path, "bad-haproxy");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "haproxy.cfg"), "defaults\n    mode tcp\nfrontend f\n    bind 127.0.0.1:1\n    bogus-keyword 1\n");
    expect((await checkHaproxy(join(dir, "haproxy.cfg"))).ok).toBe(false);
  });

  it("nginx -t refuses a missing semicolon", async () => {
    const dir = join(work.path, "bad-nginx");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "nginx.conf"), `pid ${dir}/nginx.pid;\nevents {\n worker_connections 10\n}\n`);
    expect((await checkNginx(join(dir, "nginx.conf"), dir)).ok).toBe(false);
  });

  it("squid -k parse output with ERROR counts as a failure even though squid exits 0", async () => {
    const dir = join(work.path, "bad-squid");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "squid.conf"), `http_port 127.0.0.1:3999\nacl a dstdomain "${dir}/missing.txt"\nhttp_access deny all\n`);
    const r = await checkSquid(join(dir, "squid.conf"));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/ERROR|FATAL/);
  });

  it("swanctl --load-all reports a connection charon cannot load", async () => {
    const dir = join(work.path, "bad-swanctl");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "swanctl.conf"),
      "connections {\n  c {\n    remote_addrs = 192.0.2.1\n    proposals = nosuchcipher-sha256-modp2048\n    local { auth = psk }\n    remote { auth = psk }\n  }\n}\n");
    expect((await loadSwanctl(join(dir, "swanctl.conf"), charon.viciUri, netns.name, charon.env)).ok).toBe(false);
  });

  it("iptables-restore --test refuses an invalid mask", async () => {
    const r = await checkIptables("*filter\n:PF-FORWARD - [0:0]\n-A PF-FORWARD -s 10.0.0.0/33 -j ACCEPT\nCOMMIT\n", netns.name);
    expect(r.ok).toBe(false);
  });
});
