// The local fleet's loops, end to end on this machine: how long from `git commit` to the new config serving
// traffic through the front listener (the ref watch, the rollout run, a new HAProxy generation, health, shift),
// and from an edit of the hosts file to traffic on the new address (the file watch, the local DNS server, the
// DNS loop, the runtime document applied by a hitless reload). A load loop runs through the front the whole
// time and counts failed requests. Median and max over 10 changes each.
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { waitFor } from "../containers/agent/process.ts";
import { git } from "../functions/local/git.ts";
import { LocalFleet } from "../functions/local/fleet.ts";
import { firstLine, loadLoop, namedTcpServer } from "../test/support/net.ts";
import { tempDir } from "../test/support/tmp.ts";
import { report } from "./measure.ts";

const CHANGES = 10;
const GENERATION_OFFSETS = [1000, 2000] as const;

const work = await tempDir("local-bench");
const backends = [await namedTcpServer("config-0", "127.0.0.1"), await namedTcpServer("config-1", "127.0.0.1")];
const dnsBackends = [await namedTcpServer("address-1", "127.0.0.1")];
dnsBackends.push(await namedTcpServer("address-2", "127.0.0.2", dnsBackends[0]!.port));
const offset = 100;
const [configPort, dnsPort] = await freePorts(2);
const seed = join(work.path, "seed");
const repo = join(work.path, "repo");
const hostsFile = join(work.path, "local-hosts.yaml");
const fleetYaml = (backend: number) => `version: 1
dns: { removeAfterMisses: 1, minTtl: 1s }
services:
  router:
    kind: haproxy
    listeners:
      - { name: config, port: ${configPort! - offset}, backends: [{ host: 127.0.0.1, port: ${backends[backend]!.port} }], healthCheck: { enabled: false } }
      - { name: dns, port: ${dnsPort! - offset}, backends: [{ host: db.bench.test, port: ${dnsBackends[0]!.port} }], healthCheck: { enabled: false } }
`;
await mkdir(seed);
await writeFile(join(seed, "fleet.yaml"), fleetYaml(0));
await writeFile(hostsFile, "db.bench.test: [127.0.0.1]\n");

const fleet = await LocalFleet.start({
  repo, branch: "main", seed, workDir: join(work.path, "work"), hostsFile, portOffset: offset, generationOffsets: GENERATION_OFFSETS,
});
try {
  const commit = await measureChanges(configPort!, async (i) => {
    await writeFile(join(repo, "fleet.yaml"), fleetYaml(i % 2));
    const r = await git(repo, ["commit", "-q", "-am", `Backend ${i % 2}`]);
    if (r.code !== 0) throw new Error(r.stderr);
    return `config-${i % 2}`;
  }, async () => {
    // The next commit starts once the previous generation has drained and stopped.
    await waitFor("the old generation drained", () => fleet.board.snapshot().services[0]?.others.length === 0, 30_000);
  });
  const dns = await measureChanges(dnsPort!, async (i) => {
    await writeFile(hostsFile, `db.bench.test: [127.0.0.${(i % 2) + 1}]\n`);
    return `address-${(i % 2) + 1}`;
  }, async () => undefined);
  report("local fleet: commit → new config serving traffic", [
    { name: "median", value: commit.median, unit: "ms" },
    { name: "max", value: commit.max, unit: "ms" },
    { name: "failed requests", value: commit.failed, unit: "" },
    { name: "requests", value: commit.requests, unit: "" },
  ]);
  report("local fleet: DNS change → traffic on the new address", [
    { name: "median", value: dns.median, unit: "ms" },
    { name: "max", value: dns.max, unit: "ms" },
    { name: "failed requests", value: dns.failed, unit: "" },
    { name: "requests", value: dns.requests, unit: "" },
  ]);
} finally {
  await fleet.stop();
  await Promise.all([...backends, ...dnsBackends].map((b) => b.close()));
  await work.cleanup();
}

/**
 * Makes CHANGES changes; each returns the greeting traffic must show once it took effect, timed from just
 * before the change until a new connection through the front gets that greeting (polled every 10 ms).
 */
async function measureChanges(port: number, change: (i: number) => Promise<string>, settle: () => Promise<void>) {
  const load = loadLoop(() => firstLine(port, 3_000), { workers: 2, maxRequests: 1_000_000, maxMs: 300_000 });
  const times: number[] = [];
  for (let i = 1; i <= CHANGES; i++) {
    const start = performance.now();
    const expected = await change(i);
    await waitFor(`traffic showing ${expected}`, async () => (await firstLine(port, 3_000)) === expected, 60_000);
    times.push(performance.now() - start);
    await settle();
  }
  const result = await load.stop();
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, max: times[times.length - 1]!, failed: result.failed, requests: result.ok + result.failed };
}

/** Front ports free here whose generation ports (front + each generation offset) are free too. */
async function freePorts(count: number): Promise<number[]> {
  const found: number[] = [];
  for (let attempt = 0; attempt < 200 && found.length < count; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 8_000);
    const all = [port, ...GENERATION_OFFSETS.map((g) => port + g)];
    if (all.some((p) => found.some((f) => Math.abs(f - p) < 3_000))) continue;
    if ((await Promise.all(all.map(canListen))).every(Boolean)) found.push(port);
  }
  if (found.length < count) throw new Error("no free ports found");
  return found;
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
