// The rendered iptables rules doing DNAT + MASQUERADE in a three-namespace topology the test creates
// (client → gateway → server), and a hostname rule following a DNS change: a real DNS server's answer
// changes, the DNS loop writes the runtime document, the agent applies it, traffic moves.
import { resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { link, type NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor } from "../../containers/agent/process.ts";
import { StrongswanAgent } from "../../containers/agent/strongswan.ts";
import { memoryDnsPorts } from "../../functions/dns/memory.ts";
import { createDnsClient } from "../../functions/dns/resolve.ts";
import { syncDns } from "../../functions/dns/sync.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");
const NODE = process.execPath;
const sandbox = new Sandbox();
let work: { path: string; cleanup: () => Promise<void> };
let dns: TestDnsServer;
let client: NetworkNamespace;
let gateway: NetworkNamespace;
let server: NetworkNamespace;

const fleetYaml = () => `version: 1
dns: { resolvers: ["${dns.address}"], removeAfterMisses: 1, maxShrinkPercent: 100, timeout: 500ms }
services:
  fwd:
    kind: strongswan
    noIpsec: true
    defaultForward: drop
    rules:
      - name: app
        from: [10.97.1.0/24]
        to: [app.internal.test]
        protocols: [tcp]
        ports: [8080]
        portForward: { "8080": 9090 }
        masquerade: true
`;

beforeAll(async () => {
  work = await tempDir("portfwd");
  dns = await startDnsServer();
  await sandbox.setup(async () => {
    client = await sandbox.namespace("pfc");
    gateway = await sandbox.namespace("pfg");
    server = await sandbox.namespace("pfs");
    await link(client, "10.97.1.2/24", gateway, "10.97.1.1/24");
    const serverSide = await link(gateway, "10.97.2.1/24", server, "10.97.2.2/24");
    await server.ip(["addr", "add", "10.97.2.3/24", "dev", serverSide.b]); // the name's second home
    await client.ip(["route", "add", "10.97.2.0/24", "via", "10.97.1.1"]);
    const forwarding = await run("sh", ["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], { netns: gateway.name });
    expect(forwarding.code).toBe(0);
    for (const [address, name, port] of [["10.97.2.2", "server-one", "8080"], ["10.97.2.3", "server-two", "8080"], ["10.97.2.2", "unlisted", "7070"]]) {
      const d = sandbox.track(startDaemon(NODE, [TOOL, "serve", address!, port!, name!], { netns: server.name }));
      await waitFor(`${name} listening`, () => d.output().includes("listening"), 10_000);
    }
  });
}, 60_000);

afterAll(async () => {
  await sandbox.cleanup();
  await dns?.close();
  await work?.cleanup();
});

const probe = async (address: string, port: number) =>
  (await run(NODE, [TOOL, "probe", address, String(port)], { netns: client.name, timeoutMs: 10_000 })).stdout.trim();

it("forwards a port by DNAT with masquerade, drops what no rule allows, and follows the name's DNS answer", async () => {
  const files = { "fleet.yaml": fleetYaml() };
  const model = await loadOrThrow(files);
  const ports = memoryDnsPorts({ commit: "c1", files }, () => createDnsClient({ servers: [dns.address], timeoutMs: 500, tries: 1 }));
  const documentTargets = () => (JSON.parse(ports.documents.documents.get("fwd")!.body) as { targets: Record<string, string[]> }).targets;

  dns.set("app.internal.test", { addresses: ["10.97.2.2"], ttl: 30 });
  await syncDns({ scope: "names", names: ["internal.test"] }, ports, { now: 1_000_000 });
  const agent = await StrongswanAgent.start({ fetch: async () => renderBundle(model.services[0]!) }, {
    bundleDir: `${work.path}/bundle`, runDir: `${work.path}/run`, netns: gateway.name,
    secrets: { resolve: async () => { throw new Error("no secrets in noIpsec mode"); } },
    targets: documentTargets(),
  });

  // The client reaches the gateway's port 9090 and lands on the server's 8080, seen as coming from the gateway.
  expect(await probe("10.97.1.1", 9090)).toBe("server-one from 10.97.2.1");
  // Forwarded traffic the rules do not allow is dropped (defaultForward: drop).
  expect(await probe("10.97.2.2", 7070)).toBe("");

  // DNS moves the name; the loop writes the document; the agent applies it; traffic follows.
  dns.set("app.internal.test", { addresses: ["10.97.2.3"], ttl: 30 });
  await syncDns({ scope: "names", names: ["internal.test"] }, ports, { now: 1_100_000 });
  expect(documentTargets()).toEqual({ "app.internal.test": ["10.97.2.3"] });
  expect(await agent.applyTargets(documentTargets())).toMatchObject({ applied: true });
  expect(await probe("10.97.1.1", 9090)).toBe("server-two from 10.97.2.1");

  // Only proxy-fleet's chains changed; the built-in chains just jump into them, once.
  const saved = (await run("iptables-save", [], { netns: gateway.name })).stdout;
  expect(saved.match(/-A FORWARD -j PF-FORWARD/g)).toHaveLength(1);
  expect(saved.match(/-A PREROUTING -j PF-PREROUTING/g)).toHaveLength(1);
  expect(saved).toContain("--to-destination 10.97.2.3:8080");
  expect(saved).not.toContain("10.97.2.2:8080");
});
