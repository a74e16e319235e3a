// HAProxy forwards TCP to the configured backends, honours the source allowlist and balances over
// every address DNS gave for a hostname backend.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startHaproxy } from "../../containers/agent/daemons.ts";
import type { Daemon } from "../../containers/agent/process.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith } from "../../functions/render/context.ts";
import { exchange, freePort, namedTcpServer, waitForPort, type Upstream } from "../support/net.ts";
import { loadOrThrow, service } from "../support/fixtures.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let haproxy: Daemon | undefined;
const upstreams: Upstream[] = [];
let ports: { open: number; restricted: number; balanced: number };

beforeAll(async () => {
  work = await tempDir("haproxy");
  const [a, b, c] = await Promise.all([namedTcpServer("upstream-a"), namedTcpServer("upstream-b1"), namedTcpServer("upstream-c")]);
  // The second address of pool.internal.test answers on the same port as the first, under its own name.
  const b2 = await namedTcpServer("upstream-b2", "127.0.0.2", b.port);
  upstreams.push(a, b, b2, c);
  ports = { open: await freePort(), restricted: await freePort(), balanced: await freePort() };
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - name: open
        port: ${ports.open}
        backends: [{ host: 127.0.0.1, port: ${a.port} }]
        healthCheck: { enabled: false }
      - name: restricted
        port: ${ports.restricted}
        backends: [{ host: 127.0.0.1, port: ${a.port} }]
        allowedSources: [10.0.0.0/8]
      - name: balanced
        port: ${ports.balanced}
        backends: [{ host: pool.internal.test, port: ${b.port} }, { host: 127.0.0.1, port: ${c.port} }]
        healthCheck: { interval: 200ms }
`,
  });
  // The DNS loop resolved pool.internal.test to two loopback addresses.
  const targets = { "pool.internal.test": ["127.0.0.1", "127.0.0.2"] };
  const runDir = join(work.path, "run");
  await mkdir(runDir);
  const files = renderFiles(service(model, "router", "haproxy"), contextWith({ bundleDir: work.path, runDir, listenAddress: "127.0.0.1", targets }));
  for (const [name, content] of Object.entries(files)) await writeFile(join(work.path, name), content);
  haproxy = startHaproxy(join(work.path, "haproxy.cfg"), runDir);
  await Promise.all(Object.values(ports).map((port) => waitForPort(port)));
});

afterAll(async () => {
  await haproxy?.stop();
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

it("forwards a TCP connection to the backend, both ways", async () => {
  expect(await exchange(ports.open, "ping\n")).toBe("upstream-a\nping\n");
});

it("rejects a client outside the listener's allowed sources", async () => {
  expect(await exchange(ports.restricted, "ping\n")).toBe("");
});

it("spreads connections over every address of a hostname backend and over IP backends", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) seen.add((await exchange(ports.balanced, "", { lingerMs: 50 })).trim());
  // Round robin over three servers: both addresses of pool.internal.test and the IP backend.
  expect([...seen].sort()).toEqual(["upstream-b1", "upstream-b2", "upstream-c"]);
});
