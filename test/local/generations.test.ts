// The local ECS on its own: the Deployer port, how a deployment ends (as ECS reports it to the rollout watch), and
// a generation that does not start within its bound.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run, waitFor } from "../../containers/agent/process.ts";
import { LocalFleet } from "../../functions/local/fleet.ts";
import { LocalGenerations, portClashes, type DeploymentEventName } from "../../functions/local/generations.ts";
import { StatusBoard } from "../../functions/local/status.ts";
import { LocalBundleStore } from "../../functions/local/store.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { firstLine, freePort, namedTcpServer, type Upstream } from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let backend: Upstream;

beforeAll(async () => {
  work = await tempDir("local-generations");
  backend = await namedTcpServer("database");
});

afterAll(async () => {
  await backend?.close();
  await work?.cleanup();
});

async function routerBundle(port: number) {
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1\nservices:\n  router:\n    kind: haproxy\n    listeners: [{ name: db, port: ${port}, backends: [{ host: 127.0.0.1, port: ${backend.port} }], healthCheck: { enabled: false } }]\n`,
  });
  return renderBundle(model.services[0]!);
}

function generations(healthTimeoutMs: number, dir: string) {
  const board = new StatusBoard();
  const ended: Array<[string, DeploymentEventName, string | undefined]> = [];
  const bundles = new LocalBundleStore(join(dir, "bucket"));
  const local = new LocalGenerations({
    workDir: dir, board, bundles, portOffset: 0, generationOffsets: [1000, 2000], healthTimeoutMs, drainMs: 2_000,
    targetsFor: () => ({}), squidHosts: () => "",
    onDeploymentEnded: async (id, eventName, reason) => void ended.push([id, eventName, reason]),
  });
  const deploy = async (bundle: Awaited<ReturnType<typeof routerBundle>>, commit: string) => {
    const target = { cluster: "local", service: bundle.service, container: "agent" };
    const key = await bundles.putBundle(bundle);
    const arn = await local.registerRevision(target, { key, hash: bundle.hash, commit });
    const id = await local.updateService(target, arn);
    await local.startPending();
    return id;
  };
  return { board, ended, local, deploy };
}

describe("local generations", () => {
  it("rolls a service out behind its front port and reports the deployment completed", async () => {
    const port = await freePort();
    const { board, ended, local, deploy } = generations(10_000, join(work.path, "ok"));
    try {
      const id = await deploy(await routerBundle(port), "c1");
      expect(ended).toEqual([[id, "SERVICE_DEPLOYMENT_COMPLETED", undefined]]);
      expect(await firstLine(port)).toBe("database");
      expect(board.snapshot().services[0]).toMatchObject({ service: "router", ports: [port], active: { generation: 1, health: "healthy", ports: [port + 2000] } });
      expect(local.frontPorts("router")).toEqual([port]);
    } finally {
      await local.stop();
    }
    expect(await firstLine(port, 500)).toBe("");
    expect(board.snapshot().services[0]).toMatchObject({ others: [] });
    expect(board.snapshot().services[0]!.active).toBeUndefined();
  }, 60_000);

  it("fails a generation that is not up within its bound, leaves nothing running, and says why", async () => {
    const port = await freePort();
    const dir = join(work.path, "slow");
    const { board, ended, local, deploy } = generations(1, dir);
    try {
      const id = await deploy(await routerBundle(port), "c1");
      expect(ended).toEqual([[id, "SERVICE_DEPLOYMENT_FAILED", expect.stringMatching(/never became healthy: not started within 1 ms/)]]);
      expect(board.snapshot().rollouts[0]).toMatchObject({ service: "router", outcome: "rolled-back" });
      expect(board.snapshot().services[0]).toMatchObject({ others: [] });
      expect(board.snapshot().services[0]!.active).toBeUndefined();
      expect(await firstLine(port, 500)).toBe("");
      // The agent that started late is stopped as soon as it is up.
      await waitFor("the late HAProxy stopped", async () => (await run("pgrep", ["-f", dir])).stdout.trim() === "", 20_000);
    } finally {
      await local.stop();
    }
  }, 60_000);

  it("names the services that would need the same port here: front ports, and the ports generations take", async () => {
    const model = await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  a: { kind: haproxy, listeners: [{ name: x, port: 5000, backends: [{ host: 10.0.0.1, port: 1 }] }] }
  b: { kind: haproxy, listeners: [{ name: x, port: 5000, backends: [{ host: 10.0.0.1, port: 1 }] }] }
  c: { kind: haproxy, listeners: [{ name: x, port: 6000, backends: [{ host: 10.0.0.1, port: 1 }] }] }
`,
    });
    const [a, b, c] = model.services;
    expect(portClashes([a!, b!], 10000, [1000, 2000])).toEqual([
      "services a and b both listen on port 15000; fleet local runs every service on 127.0.0.1, so run one of them at a time (or give it another port)",
      "services a and b both need port 16000 on 127.0.0.1 (generation port 16000 of a, generation port 16000 of b); give one of them another port",
      "services a and b both need port 17000 on 127.0.0.1 (generation port 17000 of a, generation port 17000 of b); give one of them another port",
    ]);
    expect(portClashes([a!, c!], 10000, [1000, 2000])).toEqual([
      "services a and c both need port 16000 on 127.0.0.1 (generation port 16000 of a, front port 16000 of c); give one of them another port",
      "services a and c both need port 17000 on 127.0.0.1 (generation port 17000 of a, generation port 17000 of c); give one of them another port",
    ]);
    expect(portClashes([a!, c!], 10000, [300, 700])).toEqual([]);
  });

  it("refuses to start a fleet whose services clash, naming both, and leaves nothing running", async () => {
    const seed = join(work.path, "clash-seed");
    await mkdir(seed);
    const port = await freePort();
    await writeFile(join(seed, "fleet.yaml"), `version: 1
services:
  a: { kind: haproxy, listeners: [{ name: x, port: ${port - 100}, backends: [{ host: 127.0.0.1, port: 1 }] }] }
  b: { kind: nginx, http: [{ port: ${port - 100}, routes: [{ match: x.test, upstream: { host: 127.0.0.1, port: 1 } }] }] }
`);
    await writeFile(join(seed, "hosts.yaml"), "");
    await expect(LocalFleet.start({
      repo: join(work.path, "clash-repo"), branch: "main", seed, workDir: join(work.path, "clash-work"), hostsFile: join(seed, "hosts.yaml"), portOffset: 100,
    })).rejects.toThrow(`services a and b both listen on port ${port}`);
    expect(await firstLine(port, 500)).toBe("");
  });
});
