// Squid tunnels CONNECT to allowlisted domains on allowed ports, from allowed sources, and answers 403
// to everything else.
import { chown, mkdir, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSquid } from "../../containers/agent/daemons.ts";
import type { Daemon } from "../../containers/agent/process.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith } from "../../functions/render/context.ts";
import { loadOrThrow, service } from "../support/fixtures.ts";
import { exchange, freePort, namedTcpServer, waitForPort, type Upstream } from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let squid: Daemon | undefined;
let target: Upstream;
let proxyPort: number;
let closedPort: number;

beforeAll(async () => {
  work = await tempDir("squid");
  target = await namedTcpServer("tunnel-target");
  proxyPort = await freePort();
  closedPort = await freePort();
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  egress:
    kind: squid
    port: ${proxyPort}
    allowlist: allow.txt
    allowedSources: [127.0.0.1/32]
    connectPorts: [${target.port}]
    dnsNameservers: [127.0.0.1]
`,
    "allow.txt": "# test allowlist\nallowed.test\n.wild.test\n",
  });
  const runDir = join(work.path, "run");
  await mkdir(runDir);
  // Squid started as root drops to its effective user, which must be able to write its run directory.
  if (userInfo().uid === 0) {
    const proxy = execFileSync("id", ["-u", "proxy"]).toString().trim();
    await chown(runDir, Number(proxy), Number(proxy));
  }
  const hostsFile = join(work.path, "hosts");
  await writeFile(hostsFile, "127.0.0.1 allowed.test sub.wild.test wild.test denied.test\n");
  const files = renderFiles(service(model, "egress", "squid"),
    contextWith({ bundleDir: work.path, runDir, logDir: runDir, listenAddress: "127.0.0.1", squidHostsFile: hostsFile }));
  for (const [name, content] of Object.entries(files)) await writeFile(join(work.path, name), content);
  squid = startSquid(join(work.path, "squid.conf"));
  await waitForPort(proxyPort, 20_000);
});

afterAll(async () => {
  await squid?.stop();
  await target?.close();
  await work?.cleanup();
});

const connect = (authority: string, localAddress?: string) =>
  exchange(proxyPort, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, {
    lingerMs: 500,
    ...(localAddress ? { localAddress } : {}),
  });

it("tunnels CONNECT to an allowlisted name", async () => {
  const reply = await connect(`allowed.test:${target.port}`);
  expect(reply).toMatch(/^HTTP\/1.1 200/);
  expect(reply).toContain("tunnel-target\n");
});

it("tunnels CONNECT to a subdomain of a .suffix entry, and to the domain itself", async () => {
  expect(await connect(`sub.wild.test:${target.port}`)).toContain("tunnel-target\n");
  expect(await connect(`wild.test:${target.port}`)).toContain("tunnel-target\n");
});

it("answers 403 to a name that is not on the allowlist", async () => {
  const reply = await connect(`denied.test:${target.port}`);
  expect(reply).toMatch(/^HTTP\/1.1 403/);
  expect(reply).not.toContain("tunnel-target");
});

it("answers 403 to CONNECT on a port that is not allowed, even for an allowlisted name", async () => {
  expect(await connect(`allowed.test:${closedPort}`)).toMatch(/^HTTP\/1.1 403/);
});

it("answers 403 to a client outside the allowed sources", async () => {
  expect(await connect(`allowed.test:${target.port}`, "127.0.0.2")).toMatch(/^HTTP\/1.1 403/);
});

it("answers 403 to plain HTTP when no HTTP ports are allowed", async () => {
  const reply = await exchange(proxyPort, `GET http://allowed.test:${target.port}/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n`, { lingerMs: 500 });
  expect(reply).toMatch(/^HTTP\/1.1 403/);
});
