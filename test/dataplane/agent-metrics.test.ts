// The agent's data-plane gauges from the real daemons on loopback: HAProxy's current sessions and servers
// up/down from its stats socket, Squid's denied requests from the access-log lines the agent reads.
import { join } from "node:path";
import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { Agent } from "../../containers/agent/agent.ts";
import { waitFor } from "../../containers/agent/process.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { exchange, freePort, namedTcpServer, tcpConnect, waitForPort, type Upstream } from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
const agents: Agent[] = [];
const upstreams: Upstream[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  work = await tempDir("agent-metrics");
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});
afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

const dirsFor = (name: string) => ({ bundleDir: join(work.path, name, "bundle"), runDir: join(work.path, name, "run") });

it("HAProxy: one server up, one down (health checks), and the open client session, from show stat", async () => {
  const live = await namedTcpServer("live-backend");
  upstreams.push(live);
  const deadPort = await freePort(); // nothing listens here: its health check fails
  const port = await freePort();
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - name: pool
        port: ${port}
        backends: [{ host: 127.0.0.1, port: ${live.port} }, { host: 127.0.0.2, port: ${deadPort} }]
        healthCheck: { interval: 200ms, rise: 1, fall: 1 }
`,
  });
  const agent = await Agent.start({ fetch: async () => renderBundle(model.services[0]!) }, { ...dirsFor("haproxy"), listenAddress: "127.0.0.1" });
  agents.push(agent);
  await waitForPort(port);

  // waitForPort's own probe connection is a session until HAProxy has closed both its sides: wait for it to go too.
  await waitFor("one server up and one down, and no session", async () => {
    const sample = await agent.sample();
    return sample.BackendsUp === 1 && sample.BackendsDown === 1 && sample.CurrentSessions === 0;
  }, 10_000);
  expect(await agent.sample()).toMatchObject({ CurrentSessions: 0, BackendsUp: 1, BackendsDown: 1 });

  // A client connection held open through the proxy (the live server greets it) is one current session.
  const held = await tcpConnect(port);
  sockets.push(held);
  await new Promise((resolve) => held.once("data", resolve));
  expect(await agent.sample()).toMatchObject({ CurrentSessions: 1, BackendsUp: 1, BackendsDown: 1 });
  held.destroy();
  await waitFor("the session to close", async () => (await agent.sample()).CurrentSessions === 0, 10_000);
});

it("Squid: each request the allowlist denies is one RequestsDenied, counted from its access log, per sample", async () => {
  const port = await freePort();
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  egress:
    kind: squid
    port: ${port}
    allowlist: allowlist.txt
    allowedSources: [127.0.0.0/8]
`,
    "allowlist.txt": "allowed.test\n",
  });
  const lines: string[] = [];
  const agent = await Agent.start({ fetch: async () => renderBundle(model.services[0]!) }, {
    ...dirsFor("squid"), listenAddress: "127.0.0.1", onDaemonLine: (_daemon, line) => lines.push(line),
  });
  agents.push(agent);
  await waitForPort(port);
  expect(await agent.sample()).toEqual({ RequestsDenied: 0 });

  // Two CONNECTs to a name off the allowlist: Squid answers 403 without a DNS lookup (dstdomain ACL).
  for (let i = 0; i < 2; i++) {
    expect(await exchange(port, "CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\n", { lingerMs: 500 })).toMatch(/^HTTP\/1\.1 403/);
  }
  await waitFor("both access-log lines", () => lines.filter((line) => line.includes("TCP_DENIED/403")).length === 2, 10_000);
  expect(await agent.sample()).toEqual({ RequestsDenied: 2 });
  // Counted once: the next sample starts from zero.
  expect(await agent.sample()).toEqual({ RequestsDenied: 0 });
});
