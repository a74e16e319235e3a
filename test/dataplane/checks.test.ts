// Every rendered file of the example and the fixtures passes the real daemon's own check.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCharon, type Charon } from "../../containers/agent/charon.ts";
import { checkHaproxy, checkIptables, checkNginx, checkSquid, loadSwanctl } from "../../containers/agent/checks.ts";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import { renderAndCheckLocally } from "../../functions/cli/local.ts";
import type { FleetModel } from "../../functions/fleet/load.ts";
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

async function fleets(): Promise<Array<[string, FleetModel]>> {
  const fixtures = await Promise.all(Object.entries(FIXTURES).map(async ([name, files]) => [name, await loadOrThrow(files)] as [string, FleetModel]));
  return [["example", await loadExample()], ...fixtures];
}

describe("rendered configs pass the daemons' own checks", () => {
  for (const resolved of [false, true]) {
    it(`every service of every fleet, with DNS ${resolved ? "resolved" : "not yet resolved"}`, async () => {
      const checked: string[] = [];
      for (const [fleet, model] of await fleets()) {
        // The same render-and-check `fleet local` runs, with the fixtures' DNS answers or none.
        const reports = await renderAndCheckLocally(model, join(work.path, `${fleet}-${resolved}`), resolved ? FIXTURE_TARGETS : {});
        for (const report of reports) {
          for (const r of report.checks) {
            expect(r.ok, `${fleet}/${report.service}/${r.file}:\n${r.output}`).toBe(true);
            checked.push(`${fleet}/${report.service}/${r.file}`);
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
