// A real IKEv2 PSK tunnel between two network namespaces the test creates, each running charon with the
// config proxy-fleet rendered for it (kernel-libipsec: this kernel has no ESP), and traffic passing
// between the protected subnets. Everything is removed afterwards, even when a test fails.
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startCharon, type Charon } from "../../containers/agent/charon.ts";
import type { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor } from "../../containers/agent/process.ts";
import { StrongswanAgent, type SecretsResolver } from "../../containers/agent/strongswan.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";
import { linkSites, siteFleet, type Site } from "../support/ipsec-sites.ts";

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");
const NODE = process.execPath;
const sandbox = new Sandbox();
const namespaces: NetworkNamespace[] = [];
const charons: Charon[] = [];
let work: { path: string; cleanup: () => Promise<void> };

/** Both gateways read the same key from "SSM"; it never appears in any bundle. */
const secrets: SecretsResolver = { resolve: async (ref) => Buffer.from(`psk for ${JSON.stringify(ref)}`) };

const side = (self: Site) => siteFleet(self, { initiator: "a" });

beforeAll(async () => {
  work = await tempDir("ipsec");
  await sandbox.setup(async () => {
    const a = await sandbox.namespace("pfa");
    const b = await sandbox.namespace("pfb");
    namespaces.push(a, b);
    await linkSites(a, b);
    // B answers, A initiates: load B first.
    for (const [self, ns] of [["b", b], ["a", a]] as const) {
      const charon = sandbox.track(await startCharon({ dir: join(work.path, `charon-${self}`), netns: ns.name, libipsec: true }));
      charons.push(charon);
      const model = await loadOrThrow({ "fleet.yaml": side(self) });
      const bundle = renderBundle(model.services[0]!);
      expect(JSON.stringify(bundle.files)).not.toContain("psk for");
      await StrongswanAgent.start({ fetch: async () => bundle }, {
        bundleDir: join(work.path, `bundle-${self}`), runDir: join(work.path, `run-${self}`), secrets,
        viciUri: charon.viciUri, swanctlEnv: charon.env, netns: ns.name,
      });
    }
  });
}, 60_000);

afterAll(async () => {
  await sandbox.cleanup();
  await work?.cleanup();
});

async function sas(ns: NetworkNamespace, charon: Charon): Promise<string> {
  return (await run("swanctl", ["--list-sas", "--uri", charon.viciUri], { netns: ns.name, env: charon.env })).stdout;
}

it("brings the IKEv2 tunnel up and carries traffic between the protected subnets", async () => {
  const [a, b] = namespaces as [NetworkNamespace, NetworkNamespace];
  const [charonB, charonA] = charons as [Charon, Charon];
  try {
    await waitFor("the CHILD_SA to be installed", async () => /INSTALLED/.test(await sas(a, charonA)), 20_000);
  } catch (error) {
    const tail = async (c: Charon) => (await c.log()).split("\n").slice(-40).join("\n");
    throw new Error(`${String(error)}\n--- charon A ---\n${await tail(charonA)}\n--- charon B ---\n${await tail(charonB)}`, { cause: error });
  }
  expect(await sas(b, charonB)).toMatch(/ESTABLISHED/);

  const server = sandbox.track(startDaemon(NODE, [TOOL, "serve", "10.98.2.1", "7000", "site-b"], { netns: b.name }));
  await waitFor("the server in site B", () => server.output().includes("listening"), 10_000);

  const probe = await run(NODE, [TOOL, "probe", "10.98.2.1", "7000", "10.98.1.1"], { netns: a.name });
  expect(probe.stdout.trim()).toBe("site-b from 10.98.1.1");
  // The only way to site B's network is the tunnel: libipsec's TUN device.
  const route = await run("ip", ["route", "get", "10.98.2.1", "from", "10.98.1.1"], { netns: a.name });
  expect(route.stdout).toMatch(/dev ipsec0/);
  // Without a tunnel, the other site is unreachable from outside the protected subnets.
  const unprotected = await run(NODE, [TOOL, "probe", "10.98.2.1", "7000", "10.99.0.1"], { netns: a.name });
  expect(unprotected.stdout.trim()).not.toBe("site-b from 10.99.0.1");
});
