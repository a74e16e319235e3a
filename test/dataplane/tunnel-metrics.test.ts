// TunnelUp, bytes and rekeys from a real charon: an IKEv2 PSK tunnel between two network namespaces the test
// creates (kernel-libipsec: this kernel has no ESP). Site A runs the agent whose metrics are read; site B is
// the peer that stops and returns. B initiates (start_action = start), so when B's charon comes back it
// brings the tunnel up again by itself. B's charon sends a DELETE for its SAs when it stops (SIGTERM), so A
// sees the tunnel gone at once; a peer killed without a word (its instance lost) is found by A's dead-peer
// detection: dpd_delay 1 s and short IKE retransmissions (swanctl.conf(5) connections.<conn>.dpd_delay;
// strongswan.conf(5) charon.retransmit_*) bound that to about 1 + 0.2 · (1 + 2 + 4) s here.
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startCharon, type Charon } from "../../containers/agent/charon.ts";
import { AgentMetrics, type MetricValues } from "../../containers/agent/metrics.ts";
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
let work: { path: string; cleanup: () => Promise<void> };
let siteA: NetworkNamespace;
let siteB: NetworkNamespace;
let agentA: StrongswanAgent;
let charonB: Charon | undefined;

const secrets: SecretsResolver = { resolve: async (ref) => Buffer.from(`psk for ${JSON.stringify(ref)}`) };

const side = (self: Site) => siteFleet(self, { initiator: "b", extra: ["dpdDelay: 1s"] });

async function startSite(self: "a" | "b", ns: NetworkNamespace): Promise<{ charon: Charon; agent: StrongswanAgent }> {
  const charon = await startCharon({
    dir: join(work.path, `charon-${self}`), netns: ns.name, libipsec: true, retransmit: { timeoutSeconds: 0.2, base: 2, tries: 2 },
  });
  const model = await loadOrThrow({ "fleet.yaml": side(self) });
  const bundle = renderBundle(model.services[0]!);
  const agent = await StrongswanAgent.start({ fetch: async () => bundle }, {
    bundleDir: join(work.path, `bundle-${self}`), runDir: join(work.path, `run-${self}`), secrets,
    viciUri: charon.viciUri, swanctlEnv: charon.env, netns: ns.name,
  });
  return { charon, agent };
}

beforeAll(async () => {
  work = await tempDir("tunnel-metrics");
  await sandbox.setup(async () => {
    siteA = await sandbox.namespace("pfma");
    siteB = await sandbox.namespace("pfmb");
    await linkSites(siteA, siteB);
    const a = await startSite("a", siteA);
    sandbox.track(a.charon);
    agentA = a.agent;
    charonB = (await startSite("b", siteB)).charon;
  });
}, 60_000);

afterAll(async () => {
  await charonB?.stop();
  await sandbox.cleanup();
  await work?.cleanup();
});

/** Samples A's tunnel metrics (as the agent's METRICS_SECONDS loop does) until `accept` holds; bounded. */
async function sampleUntil(what: string, accept: (values: MetricValues) => boolean): Promise<MetricValues[]> {
  const seen: MetricValues[] = [];
  await waitFor(what, async () => {
    const values = (await agentA.sampleTunnels()).get("to-b");
    if (!values) throw new Error("no sample for connection to-b");
    seen.push(values);
    return accept(values);
  }, 30_000);
  return seen;
}

it("reports TunnelUp 1 with the bytes the tunnel carried, 0 when the peer stops, and 1 again when it returns", async () => {
  await sampleUntil("TunnelUp 1", (v) => v.TunnelUp === 1);

  // Traffic through the tunnel shows up in the bytes of the next sample.
  const server = sandbox.track(startDaemon(NODE, [TOOL, "serve", "10.98.2.1", "7000", "site-b"], { netns: siteB.name }));
  await waitFor("the server in site B", () => server.output().includes("listening"), 10_000);
  const probe = await run(NODE, [TOOL, "probe", "10.98.2.1", "7000", "10.98.1.1"], { netns: siteA.name });
  expect(probe.stdout.trim()).toBe("site-b from 10.98.1.1");
  const afterTraffic = (await agentA.sampleTunnels()).get("to-b")!;
  expect(afterTraffic.TunnelUp).toBe(1);
  expect(afterTraffic.TunnelBytesIn).toBeGreaterThan(0);
  expect(afterTraffic.TunnelBytesOut).toBeGreaterThan(0);
  // Bytes are per interval: with no traffic since, the next sample carries none.
  const quiet = (await agentA.sampleTunnels()).get("to-b")!;
  expect(quiet).toMatchObject({ TunnelUp: 1, TunnelBytesIn: 0, TunnelBytesOut: 0, Rekeys: 0 });

  await charonB!.stop();
  charonB = undefined;
  await sampleUntil("TunnelUp 0 after the peer stopped", (v) => v.TunnelUp === 0);

  charonB = (await startSite("b", siteB)).charon;
  const back = await sampleUntil("TunnelUp 1 after the peer returned", (v) => v.TunnelUp === 1);

  // What the agent prints: one EMF line per connection, dimensions Service and Connection.
  const lines: string[] = [];
  new AgentMetrics(agentA.model.name, (line) => lines.push(line)).emit(back.at(-1)!, "to-b");
  const emf = JSON.parse(lines[0]!);
  expect(emf).toMatchObject({ Service: "vpn-a", Connection: "to-b", TunnelUp: 1 });
  expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([["Service", "Connection"]]);
}, 120_000);

it("reports TunnelUp 0 when the peer is lost without a word (dead-peer detection), and 1 when it returns", async () => {
  if (!charonB) charonB = (await startSite("b", siteB)).charon;
  await sampleUntil("TunnelUp 1", (v) => v.TunnelUp === 1);

  await charonB.kill(); // SIGKILL: no DELETE reaches A
  charonB = undefined;
  await sampleUntil("TunnelUp 0 once A's DPD gave the peer up", (v) => v.TunnelUp === 0);

  charonB = (await startSite("b", siteB)).charon;
  await sampleUntil("TunnelUp 1 after the peer returned", (v) => v.TunnelUp === 1);
}, 120_000);
