// The in-task agent with the real daemons on loopback: bundle verification, the daemon check as a
// safety net, and live runtime-target changes under load with no failed request.
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../containers/agent/agent.ts";
import { BundleRefused, verifyBundle, type BundleSource } from "../../containers/agent/bundle.ts";
import { renderBundle, type Bundle } from "../../functions/render/bundle.ts";
import { loadExample, loadOrThrow } from "../support/fixtures.ts";
import { firstLine, freePort, loadLoop, namedHttpServer, namedTcpServer, waitForPort, type Upstream } from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

const upstreams: Upstream[] = [];
let backendPort: number;
let work: { path: string; cleanup: () => Promise<void> };
const agents: Agent[] = [];

beforeAll(async () => {
  work = await tempDir("agent");
  const one = await namedTcpServer("backend-one");
  backendPort = one.port;
  upstreams.push(one, await namedTcpServer("backend-two", "127.0.0.2", backendPort));
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});
afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

const source = (bundle: Bundle): BundleSource => ({ fetch: async () => structuredClone(bundle) });
let dirs = 0;
const options = () => {
  const dir = join(work.path, `agent-${++dirs}`);
  return { bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), logDir: join(dir, "run"), listenAddress: "127.0.0.1" };
};

async function haproxyBundle(port: number, connectTimeout = "5s") {
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - name: pool
        port: ${port}
        backends: [{ host: pool.internal.test, port: ${backendPort} }]
        healthCheck: { enabled: false }
        timeouts: { connect: ${connectTimeout} }
`,
  });
  return renderBundle(model.services[0]!);
}

describe("bundles", () => {
  it("takes back every example service's bundle as rendered: the model it carries validates again, unchanged", async () => {
    for (const service of (await loadExample()).services) {
      const bundle = renderBundle(service);
      expect(verifyBundle(bundle, bundle.hash), service.name).toEqual(service);
    }
  });

  it("refuses a bundle whose files do not match its hash, and starts nothing", async () => {
    const bundle = await haproxyBundle(await freePort());
    const tampered = { ...bundle, files: { ...bundle.files, "haproxy.cfg": bundle.files["haproxy.cfg"] + "# edited\n" } };
    await expect(Agent.start(source(tampered), options())).rejects.toThrow(BundleRefused);
    await expect(Agent.start(source(tampered), options())).rejects.toThrow(/is corrupt/);
  });

  it("refuses a bundle other than the one the task definition pins", async () => {
    const bundle = await haproxyBundle(await freePort());
    await expect(Agent.start(source(bundle), { ...options(), pinnedHash: "sha256:" + "0".repeat(64) })).rejects.toThrow(/pinned/);
  });

  it("never starts a configuration its daemon refuses", async () => {
    // An address HAProxy cannot parse never comes from DNS; it stands for any rendered file the daemon refuses.
    const bundle = await haproxyBundle(await freePort());
    await expect(Agent.start(source(bundle), { ...options(), targets: { "pool.internal.test": ["999.1.1.1"] } })).rejects.toThrow(/haproxy refused/);
  });

  it("refuses a bundle of another kind than the image runs, naming both, before starting anything", async () => {
    const bundle = await haproxyBundle(await freePort());
    await expect(Agent.start(source(bundle), { ...options(), expectedKind: "squid" }))
      .rejects.toThrow(`bundle router (${bundle.hash}) is a haproxy service, but this image runs squid`);
  });
});

describe("runtime targets under load", () => {
  it("HAProxy: 20 target changes reach traffic with 0 failed requests", async () => {
    const port = await freePort();
    const agent = await Agent.start(source(await haproxyBundle(port)), { ...options(), targets: { "pool.internal.test": ["127.0.0.1"] } });
    agents.push(agent);
    await waitForPort(port);
    expect(await firstLine(port)).toBe("backend-one");

    const load = loadLoop(() => firstLine(port), { workers: 4, maxRequests: 50_000, maxMs: 60_000 });
    const results = [];
    for (let i = 0; i < 20; i++) {
      const address = i % 2 === 0 ? "127.0.0.2" : "127.0.0.1";
      results.push(await agent.applyTargets({ "pool.internal.test": [address] }));
      await new Promise((r) => setTimeout(r, 150));
    }
    const { ok, failed, seen } = await load.stop();
    process.stdout.write(`HAProxy: ${ok} requests ok, ${failed} failed across 20 applies; seen ${JSON.stringify(seen)}\n`);
    expect(results.every((r) => r.applied)).toBe(true);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(100);
    expect(Object.keys(seen).sort()).toEqual(["backend-one", "backend-two"]);
    expect(await firstLine(port)).toBe("backend-one"); // the last apply (i = 19) chose 127.0.0.1
    expect(agent.health()).toMatchObject({ ok: true, service: "router" });
  });

  it("NGINX: 20 target changes reach traffic with 0 failed requests", async () => {
    const webOne = await namedHttpServer("web-one");
    const webTwo = await namedHttpServer("web-two", "127.0.0.2", webOne.port);
    upstreams.push(webOne, webTwo);
    const port = await freePort();
    const model = await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  ingress:
    kind: nginx
    resolver: { addresses: [127.0.0.1] }
    http:
      - port: ${port}
        routes: [{ match: app.example.test, upstream: { host: app.internal.test, port: ${webOne.port} } }]
`,
    });
    const bundle = renderBundle(model.services[0]!);
    const agent = await Agent.start(source(bundle), { ...options(), targets: { "app.internal.test": ["127.0.0.1"] } });
    agents.push(agent);
    await waitForPort(port);
    const get = () => new Promise<string>((resolve) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/", headers: { Host: "app.example.test" }, agent: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(res.statusCode === 200 ? body.split(" ")[0]! : ""));
      });
      req.on("error", () => resolve(""));
      req.setTimeout(2_000, () => req.destroy());
      req.end();
    });
    expect(await get()).toBe("web-one");

    const load = loadLoop(get, { workers: 4, maxRequests: 50_000, maxMs: 60_000 });
    const results = [];
    for (let i = 0; i < 20; i++) {
      results.push(await agent.applyTargets({ "app.internal.test": [i % 2 === 0 ? "127.0.0.2" : "127.0.0.1"] }));
      await new Promise((r) => setTimeout(r, 150));
    }
    const { ok, failed, seen } = await load.stop();
    process.stdout.write(`NGINX: ${ok} requests ok, ${failed} failed across 20 applies; seen ${JSON.stringify(seen)}\n`);
    expect(results.every((r) => r.applied)).toBe(true);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(100);
    expect(Object.keys(seen).sort()).toEqual(["web-one", "web-two"]);
    expect(await get()).toBe("web-one"); // the last apply (i = 19) chose 127.0.0.1
  });

  it("keeps the running config when a candidate is refused, and says why", async () => {
    const port = await freePort();
    const agent = await Agent.start(source(await haproxyBundle(port)), { ...options(), targets: { "pool.internal.test": ["127.0.0.1"] } });
    agents.push(agent);
    await waitForPort(port);
    // An address HAProxy cannot parse never comes from DNS; it stands for any candidate the daemon refuses.
    const result = await agent.applyTargets({ "pool.internal.test": ["999.1.1.1"] });
    expect(result.applied).toBe(false);
    expect(result.reason).toMatch(/candidate refused by haproxy/);
    expect(await firstLine(port)).toBe("backend-one");
    expect(agent.health().lastApply.applied).toBe(false);
  });
});

describe("stop and drain", () => {
  // Squid's cache log says how long it waits for open connections: shutdown_lifetime (3 s, rendered) on a drain's
  // SIGTERM, nothing on a stop's SIGINT (`squid -k interrupt`), which the local fleet and a failed start use.
  async function squidAgent(name: string) {
    const port = await freePort();
    const model = await loadOrThrow({
      "fleet.yaml": `version: 1\nservices:\n  egress:\n    kind: squid\n    port: ${port}\n    allowlist: allowlist.txt\n    allowedSources: [127.0.0.0/8]\n`,
      "allowlist.txt": "allowed.test\n",
    });
    const lines: string[] = [];
    const dir = join(work.path, name);
    const agent = await Agent.start(source(renderBundle(model.services[0]!)), {
      bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), listenAddress: "127.0.0.1", onDaemonLine: (_daemon, line) => lines.push(line),
    });
    agents.push(agent);
    await waitForPort(port);
    return { agent, lines };
  }
  const waited = (lines: string[]) => lines.map((l) => /Waiting (\d+) seconds for active connections to finish/.exec(l)?.[1]).filter(Boolean);

  it("stops Squid without waiting out its shutdown_lifetime, which a drain waits", async () => {
    const [stopped, drained] = await Promise.all([squidAgent("squid-stop"), squidAgent("squid-drain")]);
    await Promise.all([stopped.agent.stop(), drained.agent.drain(10_000)]);
    expect(waited(stopped.lines)).toEqual(["0"]);
    expect(waited(drained.lines)).toEqual(["3"]);
  });
});

describe("health", () => {
  it("answers 200 with the service and hash while the daemon runs, 503 once it stopped", async () => {
    const { startHealthServer } = await import("../../containers/agent/health.ts");
    const agent = await Agent.start(source(await haproxyBundle(await freePort())), options());
    const server = await startHealthServer(await freePort(), () => agent.health(), "127.0.0.1");
    const healthPort = (server.address() as { port: number }).port;
    const get = () => new Promise<{ status: number; body: { ok: boolean; service: string } }>((resolve) => {
      httpRequest({ host: "127.0.0.1", port: healthPort, path: "/healthz" }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
      }).end();
    });
    expect(await get()).toMatchObject({ status: 200, body: { ok: true, service: "router" } });
    await agent.stop();
    expect(await get()).toMatchObject({ status: 503, body: { ok: false } });
    server.close();
  });
});
