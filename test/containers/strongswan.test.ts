// The strongSwan agent as its image runs it (strongswan-main.ts: charon, the bundle from the S3 stand-in, the
// pre-shared key from the SSM stand-in, iptables) brings a real IKEv2 tunnel up with the example's algorithms
// against a charon in a second namespace, and carries traffic between the protected subnets. Once as a plain
// process, once as the built image under podman (skipped, saying why, where podman or the image is missing).
// This kernel has no ESP: both sides use kernel-libipsec (userspace ESP on a TUN device), so the image gets a
// strongswan.conf that loads it, as docs/containers.md describes.
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startCharon } from "../../containers/agent/charon.ts";
import type { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor } from "../../containers/agent/process.ts";
import { StrongswanAgent } from "../../containers/agent/strongswan.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";
import { buildWorld, IMAGE, NODE, REPO, startAgentProcess, startContainer, unavailable, type RunningTask, type World } from "./harness.ts";
import { linkSites, siteFleet, type Site } from "../support/ipsec-sites.ts";

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");
const PSK_PARAMETER = "/proxy-fleet/test/dc1-psk";
const PSK = "a pre-shared key only the SSM stand-in knows";

/** One side of the tunnel with the example's dc1 algorithms (examples/fleet.yaml). */
const side = (self: Site) => siteFleet(self, {
  initiator: "a", connection: "dc1", pskParameter: PSK_PARAMETER,
  ike: "{ encryption: [aes256gcm16, aes256], integrity: [sha384, sha256], dhGroups: [ecp384, modp2048] }",
  esp: "{ encryption: [aes256gcm16], integrity: [sha256], dhGroups: [ecp384] }",
});

/** The image's strongswan.conf with kernel-libipsec (no ESP in this kernel) and the vici socket at `vici`. */
async function libipsecConf(vici: string): Promise<string> {
  return (await readFile(join(REPO, "containers/strongswan/strongswan.conf"), "utf8"))
    .replace("kernel-netlink", "kernel-libipsec kernel-netlink")
    .replace("unix:///run/proxy-fleet/charon.vici", `unix://${vici}`);
}

const sandbox = new Sandbox();
afterEach(() => sandbox.cleanup());

/** Site B (the responder, a charon of the test's own) and the container's world, site A. */
async function sites(dir: string): Promise<{ world: World; b: NetworkNamespace; sas: () => Promise<string> }> {
  const world = await buildWorld(sandbox, dir, side("a"), [], {});
  await writeFile(join(world.dataDir, "ssm", encodeURIComponent(PSK_PARAMETER)), PSK);
  const b = await sandbox.namespace("pfctb");
  await linkSites(world.ns, b);
  const charonB = sandbox.track(await startCharon({ dir: join(dir, "charon-b"), netns: b.name, libipsec: true }));
  const bundleB = renderBundle((await loadOrThrow({ "fleet.yaml": side("b") })).services[0]!);
  await StrongswanAgent.start({ fetch: async () => bundleB }, {
    bundleDir: join(dir, "bundle-b"), runDir: join(dir, "run-b"), netns: b.name,
    secrets: { resolve: async () => Buffer.from(PSK) }, viciUri: charonB.viciUri, swanctlEnv: charonB.env,
  });
  const server = sandbox.track(startDaemon(NODE, [TOOL, "serve", "10.98.2.1", "7000", "site-b"], { netns: b.name }));
  await waitFor("the server in site B", () => server.output().includes("listening"), 10_000);
  return {
    world, b,
    sas: async () => (await run("swanctl", ["--list-sas", "--uri", charonB.viciUri], { netns: b.name, env: charonB.env })).stdout,
  };
}

async function tunnelCarriesTraffic(task: RunningTask, world: World, sas: () => Promise<string>): Promise<void> {
  const explain = () => `container output:\n${task.lines.slice(-80).join("\n")}`;
  await waitFor("the agent to report started", () => task.agentLines().some((l) => l.agent === "started") || !task.running(), 60_000)
    .catch((error: unknown) => { throw new Error(`${String(error)}\n${explain()}`, { cause: error }); });
  expect(task.running(), explain()).toBe(true);
  await waitFor("the CHILD_SA in site B", async () => /INSTALLED/.test(await sas()), 30_000)
    .catch((error: unknown) => { throw new Error(`${String(error)}\n${explain()}`, { cause: error }); });
  const established = await sas();
  // The example's first IKE and ESP proposals: AES-GCM-16 with ECP-384, PRF SHA-384.
  expect(established).toMatch(/AES_GCM_16-256\/PRF_HMAC_SHA2_384\/ECP_384/);
  expect(established).toMatch(/AES_GCM_16-256/);
  const probe = await run(NODE, [TOOL, "probe", "10.98.2.1", "7000", "10.98.1.1"], { netns: world.ns.name });
  expect(probe.stdout.trim()).toBe("site-b from 10.98.1.1");
  expect(task.daemonLines("charon").join("\n"), explain()).toMatch(/CHILD_SA dc1\{\d+\} established/);
  expect(await task.stop(), explain()).toBe(0);
}

describe("the strongSwan agent as its image runs it", () => {
  it("as a process: an IKEv2 tunnel with the example's algorithms carries traffic, charon's log in the output, exit 0 on SIGTERM", async () => {
    const work = await tempDir("ct-sw");
    sandbox.track({ stop: work.cleanup });
    const { world, sas } = await sites(work.path);
    const vici = join(work.path, "task", "charon.vici");
    await writeFile(join(work.path, "strongswan.conf"), await libipsecConf(vici));
    const task = startAgentProcess(sandbox, world, "strongswan", join(work.path, "task"), {
      STRONGSWAN_CONF: join(work.path, "strongswan.conf"), PROXY_FLEET_VICI_SOCKET: vici,
    });
    await tunnelCarriesTraffic(task, world, sas);
  }, 120_000);

  const reason = unavailable(["strongswan"]);
  const required = process.env.PROXY_FLEET_REQUIRE_IMAGES === "1";
  it.skipIf(reason !== undefined && !required)(`as the image under podman${reason ? ` (skipped: ${reason})` : ""}`, async () => {
    const work = await tempDir("img-sw");
    sandbox.track({ stop: work.cleanup });
    const { world, sas } = await sites(work.path);
    await writeFile(join(work.path, "strongswan.conf"), await libipsecConf("/run/proxy-fleet/charon.vici"));
    const task = startContainer(sandbox, world, "strongswan", IMAGE("strongswan"), [
      "--init", "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun",
      "-v", `${join(work.path, "strongswan.conf")}:/etc/proxy-fleet/strongswan.conf:ro`,
    ]);
    await tunnelCarriesTraffic(task, world, sas);
  }, 120_000);
});
