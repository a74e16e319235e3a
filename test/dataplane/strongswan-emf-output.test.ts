// The strongSwan entry point (containers/agent/strongswan-main.ts) as its image runs it, with the S3/SSM
// stand-in (test/containers/harness.ts) and a peer charon in a second namespace: its stdout carries a
// TunnelUp line per connection under the dimensions Service and Connection, and when charon dies behind its
// back, one DaemonRestarts line before the agent exits 1.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { startCharon } from "../../containers/agent/charon.ts";
import { run, waitFor } from "../../containers/agent/process.ts";
import { StrongswanAgent } from "../../containers/agent/strongswan.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { buildWorld, REPO, startAgentProcess } from "../containers/harness.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";
import { linkSites, siteFleet, type Site } from "../support/ipsec-sites.ts";

const PSK_PARAMETER = "/proxy-fleet/test/emf-psk";
const PSK = "a pre-shared key only the SSM stand-in knows";
const sandbox = new Sandbox();
afterEach(() => sandbox.cleanup());

const side = (self: Site) => siteFleet(self, { initiator: "a", connection: "dc1", pskParameter: PSK_PARAMETER });

it("prints TunnelUp per connection, and DaemonRestarts when charon dies", async () => {
  const work = await tempDir("sw-emf");
  sandbox.track({ stop: work.cleanup });
  const world = await buildWorld(sandbox, work.path, side("a"), [], {});
  await writeFile(join(world.dataDir, "ssm", encodeURIComponent(PSK_PARAMETER)), PSK);
  const b = await sandbox.namespace("pfeb");
  // Each site's protected network is one host address on its loopback (charon installs the tunnel's routes from it).
  await linkSites(world.ns, b);
  const charonB = sandbox.track(await startCharon({ dir: join(work.path, "charon-b"), netns: b.name, libipsec: true }));
  const bundleB = renderBundle((await loadOrThrow({ "fleet.yaml": side("b") })).services[0]!);
  await StrongswanAgent.start({ fetch: async () => bundleB }, {
    bundleDir: join(work.path, "bundle-b"), runDir: join(work.path, "run-b"), netns: b.name,
    secrets: { resolve: async () => Buffer.from(PSK) }, viciUri: charonB.viciUri, swanctlEnv: charonB.env,
  });
  // The image's strongswan.conf, with kernel-libipsec (this kernel has no ESP) and the socket in the test's directory.
  const vici = join(work.path, "task", "charon.vici");
  const conf = (await readFile(join(REPO, "containers/strongswan/strongswan.conf"), "utf8"))
    .replace("kernel-netlink", "kernel-libipsec kernel-netlink").replace("unix:///run/proxy-fleet/charon.vici", `unix://${vici}`);
  await writeFile(join(work.path, "strongswan.conf"), conf);
  const task = startAgentProcess(sandbox, world, "strongswan", join(work.path, "task"), {
    STRONGSWAN_CONF: join(work.path, "strongswan.conf"), PROXY_FLEET_VICI_SOCKET: vici, METRICS_SECONDS: "0.2",
  });
  const emf = () => task.lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return parsed._aws ? [parsed] : [];
    } catch {
      return [];
    }
  });
  const explain = () => `agent output:\n${task.lines.filter((l) => !l.includes("_aws")).slice(-40).join("\n")}`;

  await waitFor("a TunnelUp 1 line", () => emf().some((d) => d.TunnelUp === 1), 30_000).catch((e: unknown) => { throw new Error(`${String(e)}\n${explain()}`); });
  const up = emf().find((d) => d.TunnelUp === 1)!;
  expect(up).toMatchObject({ Service: "vpn-a", Connection: "dc1" });
  expect((up._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0]!.Dimensions).toEqual([["Service", "Connection"]]);

  // charon is the agent's child: end it behind the agent's back, by its process id.
  const children = await run("ps", ["-o", "pid=,comm=", "--ppid", String(task.pid)]);
  const charonPid = children.stdout.split("\n").map((l) => l.trim().split(/\s+/)).find(([, comm]) => comm === "charon-systemd")?.[0];
  expect(charonPid, children.stdout).toMatch(/^\d+$/);
  process.kill(Number(charonPid), "SIGKILL");
  expect(await task.exited).toBe(1);
  expect(emf().filter((d) => d.DaemonRestarts !== undefined), explain()).toMatchObject([{ Service: "vpn-a", DaemonRestarts: 1 }]);
}, 120_000);
