// The local fleet end to end: the example config in a local git repository, its HAProxy, NGINX and Squid services
// run as task generations behind front listeners, DNS from the local authoritative server. Traffic flows through
// every proxy under a bounded load loop while commits, a refused commit, a DNS change and a generation that never
// gets healthy go by; stopping leaves nothing behind.
//
// Squid refuses loopback destinations (FORBIDDEN_DESTINATIONS), so its destination lives in a network namespace
// this test creates, reached over a veth pair (198.18.77.0/30, a benchmarking range); nothing leaves the machine.
import { execFileSync } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor, type Daemon } from "../../containers/agent/process.ts";
import { git, NOTES_REF } from "../../functions/local/git.ts";
import { LocalFleet } from "../../functions/local/fleet.ts";
import type { LocalStatus } from "../../functions/local/status.ts";
import { EXAMPLES_DIR } from "../support/fixtures.ts";
import { exchange, firstLine, loadLoop, namedHttpServer, namedTcpServer, namedTlsServer, tlsThrough, type Upstream } from "../support/net.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");
const EXAMPLE_PORTS = [5432, 636, 3270, 443, 80, 3128];
const GENERATION_OFFSETS = [1000, 2000] as const;
const DESTINATION = { host: "198.18.77.1/30", inside: "198.18.77.2" };
const NEW_DOMAIN = "new.proxy-fleet.test";

const sandbox = new Sandbox();
const upstreams: Upstream[] = [];
let work: { path: string; cleanup: () => Promise<void> };
let fleet: LocalFleet;
let ns: NetworkNamespace;
let destination: Daemon;
let offset = 0;
let repo = "";
let hostsFile = "";
const output: string[] = [];

const front = (port: number) => port + offset;

beforeAll(async () => {
  work = await tempDir("local-e2e");
  repo = join(work.path, "repo");
  hostsFile = join(work.path, "local-hosts.yaml");
  const ldapA = await namedTcpServer("backend-a", "127.0.0.1");
  const ldapB = await namedTcpServer("backend-b", "127.0.0.2", ldapA.port);
  const web = await namedHttpServer("website");
  const tls = await namedTlsServer("lattice-api");
  upstreams.push(ldapA, ldapB, web, tls);
  offset = await freeOffset();

  await sandbox.setup(async () => {
    ns = await sandbox.namespace("pfe2e");
    const hostEnd = `pfe2e${process.pid % 100000}`;
    await ipOk(["link", "add", hostEnd, "type", "veth", "peer", "name", "inside", "netns", ns.name]);
    await ipOk(["addr", "add", DESTINATION.host, "dev", hostEnd]);
    await ipOk(["link", "set", hostEnd, "up"]);
    await ns.ip(["addr", "add", `${DESTINATION.inside}/30`, "dev", "inside"]);
    await ns.ip(["link", "set", "inside", "up"]);
    destination = sandbox.track(startDaemon(process.execPath, [TOOL, "serve", DESTINATION.inside, "443", "destination"], { netns: ns.name }));
    await waitFor("the destination in the namespace", () => destination.output().includes("listening"), 10_000);
  });

  // The example, as a person would adapt it to this machine: backends on loopback, loopback clients admitted,
  // and DNS hysteresis of one answer so a changed address takes over at the next lookup.
  const seed = join(work.path, "seed");
  await cp(EXAMPLES_DIR, seed, { recursive: true });
  const fleetYaml = replaceAll(await readFile(join(seed, "fleet.yaml"), "utf8"), [
    ["removeAfterMisses: 3", "removeAfterMisses: 1"],
    ["minTtl: 30s", "minTtl: 1s"],
    ["{ host: ldap.corp.example.com, port: 636 }", `{ host: ldap.corp.example.com, port: ${ldapA.port} }`],
    ["us-east-1.on.aws, port: 443 }", `us-east-1.on.aws, port: ${tls.port} }`],
    ["api-0a1b2c3d.7d67968.vpc-lattice-svcs.us-east-1.on.aws, port: 80 }", `api-0a1b2c3d.7d67968.vpc-lattice-svcs.us-east-1.on.aws, port: ${web.port} }`],
    ["default: { host: www-0c1d2e3f.7d67968.vpc-lattice-svcs.us-east-1.on.aws, port: 80 }", `default: { host: www-0c1d2e3f.7d67968.vpc-lattice-svcs.us-east-1.on.aws, port: ${web.port} }`],
    ["allow: [10.0.0.0/8, 172.16.0.0/12]", "allow: [10.0.0.0/8, 172.16.0.0/12, 127.0.0.0/8]"],
    ["allowedSources: [10.0.0.0/8, 100.64.0.0/10]", "allowedSources: [10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8]"],
  ]);
  await writeFile(join(seed, "fleet.yaml"), fleetYaml);
  await writeFile(hostsFile, (await readFile(join(EXAMPLES_DIR, "local-hosts.yaml"), "utf8"))
    + `api.github.com: { addresses: [${DESTINATION.inside}], ttl: 5 }\n${NEW_DOMAIN}: [${DESTINATION.inside}]\n`);

  fleet = await LocalFleet.start({
    repo, branch: "main", seed, workDir: join(work.path, "work"), hostsFile, portOffset: offset,
    generationOffsets: GENERATION_OFFSETS, healthTimeoutMs: 10_000, drainMs: 5_000, out: (line) => output.push(line),
  });
}, 120_000);

afterAll(async () => {
  if (wholeRun) await stopAll(wholeRun);
  await fleet?.stop();
  await sandbox.cleanup();
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

// What each proxy must answer; "" counts as a failed request in the load loop.
const through = {
  haproxy: async () => firstLine(front(636), 3_000),
  nginxHttp: async () => {
    const reply = await exchange(front(80), "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n", { lingerMs: 2_000 });
    return /website host=www.example.com/.test(reply) ? "website" : "";
  },
  nginxTls: async () => ((await tlsThrough(front(443), "api.example.com")).startsWith("lattice-api sni=api.example.com") ? "lattice-api" : ""),
  squid: (name: string) => async () => {
    const reply = await exchange(front(3128), `CONNECT ${name}:443 HTTP/1.1\r\nHost: ${name}:443\r\n\r\n`, { lingerMs: 2_000 });
    return /^HTTP\/1.1 200[\s\S]*destination from 198\.18\.77\.1/.test(reply) ? "destination" : "";
  },
};

function everyProxyLoad(maxMs: number, workers = 2) {
  const options = { workers, maxRequests: 50_000, maxMs };
  return {
    haproxy: loadLoop(through.haproxy, options),
    nginxHttp: loadLoop(through.nginxHttp, options),
    nginxTls: loadLoop(through.nginxTls, options),
    squid: loadLoop(through.squid("api.github.com"), options),
  };
}

async function stopAll(loads: ReturnType<typeof everyProxyLoad>) {
  const entries = await Promise.all(Object.entries(loads).map(async ([name, load]) => [name, await load.stop()] as const));
  return Object.fromEntries(entries);
}

async function until(what: string, condition: (status: LocalStatus) => boolean, timeoutMs = 40_000): Promise<LocalStatus> {
  await waitFor(what, () => condition(fleet.board.snapshot()), timeoutMs);
  return fleet.board.snapshot();
}

const service = (status: LocalStatus, name: string) => status.services.find((s) => s.service === name)!;

async function commit(message: string, change: (files: { read(path: string): Promise<string>; write(path: string, text: string): Promise<void> }) => Promise<void>): Promise<string> {
  await change({ read: (path) => readFile(join(repo, path), "utf8"), write: (path, text) => writeFile(join(repo, path), text) });
  const result = await git(repo, ["commit", "-q", "-am", message]);
  expect(result.code, result.stderr).toBe(0);
  return (await git(repo, ["rev-parse", "HEAD"])).stdout.trim();
}

/** Traffic through every proxy from the first check until the last change that must be hitless. */
let wholeRun: ReturnType<typeof everyProxyLoad> | undefined;

describe("the local fleet", () => {
  it("serves every HAProxy, NGINX and Squid service through its front listener, first generation active", async () => {
    const status = fleet.board.snapshot();
    expect(status.services.map((s) => `${s.service}:${s.active?.generation}:${s.active?.health}`).sort()).toEqual([
      "egress:1:healthy", "lattice-ingress:1:healthy", "onprem-router:1:healthy",
    ]);
    expect(service(status, "egress").ports).toEqual([front(3128)]);
    expect(await through.haproxy()).toBe("backend-a");
    expect(await through.nginxHttp()).toBe("website");
    expect(await through.nginxTls()).toBe("lattice-api");
    expect(await through.squid("api.github.com")()).toBe("destination");
    expect(await through.squid(NEW_DOMAIN)()).toBe(""); // not allowlisted yet
    expect(status.targets.find((t) => t.name === "ldap.corp.example.com")).toMatchObject({ addresses: ["127.0.0.1"], source: "dns", ttlSeconds: 5 });
    wholeRun = everyProxyLoad(240_000, 1);
  });

  it("rolls an allowlist commit out as a new Squid generation: the new domain is allowed, no request fails", async () => {
    const load = everyProxyLoad(60_000);
    const head = await commit("Allow the new domain", async (files) => {
      await files.write("allowlists/egress.txt", (await files.read("allowlists/egress.txt")) + `${NEW_DOMAIN}\n`);
    });
    const status = await until("egress generation 2 serving and generation 1 drained", (s) => {
      const egress = service(s, "egress");
      return egress.active?.generation === 2 && egress.others.length === 0;
    });
    expect(await through.squid(NEW_DOMAIN)()).toBe("destination");
    const results = await stopAll(load);
    for (const [name, result] of Object.entries(results)) {
      expect({ name, failed: result.failed }).toEqual({ name, failed: 0 });
      expect(result.ok).toBeGreaterThan(0);
    }
    expect(status.acceptedCommit).toBe(head);
    expect(status.rollouts.find((r) => r.commit === head && r.service === "egress")).toMatchObject({ outcome: "succeeded" });
    // Only the service whose bundle changed got a new generation.
    expect(service(status, "onprem-router").active?.generation).toBe(1);
    expect((await git(repo, ["notes", `--ref=${NOTES_REF}`, "show", head])).stdout).toMatch(/proxy-fleet accepted/);
  }, 90_000);

  it("refuses an invalid commit: nothing changes, its error is on the board and in a git note with file:line", async () => {
    const load = everyProxyLoad(30_000);
    const before = fleet.board.snapshot();
    const allowlist = await readFile(join(repo, "allowlists/egress.txt"), "utf8");
    const badLine = allowlist.split("\n").length;
    const head = await commit("A wildcard the allowlist does not take", async (files) => {
      await files.write("allowlists/egress.txt", `${allowlist}*.bad.example.org\n`);
    });
    const status = await until("the commit refused", (s) => s.rejected.some((r) => r.commit === head));
    const rejected = status.rejected.find((r) => r.commit === head)!;
    expect(rejected.subject).toBe("A wildcard the allowlist does not take");
    expect(rejected.errors).toContainEqual(expect.objectContaining({ file: "allowlists/egress.txt", line: badLine, rule: "allowlist-wildcard" }));
    const note = (await git(repo, ["notes", `--ref=${NOTES_REF}`, "show", head])).stdout;
    expect(note).toContain(`allowlists/egress.txt:${badLine}:`);
    expect(note).toMatch(/rejected/);
    expect(output.join("")).toMatch(new RegExp(`allowlists/egress.txt:${badLine}:\\d+: error\\[allowlist-wildcard\\]`));
    const results = await stopAll(load);
    for (const [name, result] of Object.entries(results)) expect({ name, failed: result.failed }).toEqual({ name, failed: 0 });
    expect(status.acceptedCommit).toBe(before.acceptedCommit);
    expect(status.services.map((s) => `${s.service}:${s.active?.generation}`)).toEqual(before.services.map((s) => `${s.service}:${s.active?.generation}`));
  }, 60_000);

  it("follows a DNS change in the hosts file: HAProxy traffic moves to the new address, no request fails", async () => {
    const load = loadLoop(through.haproxy, { workers: 2, maxRequests: 20_000, maxMs: 40_000 });
    await writeFile(hostsFile, (await readFile(hostsFile, "utf8")).replace("ldap.corp.example.com: [127.0.0.1]", "ldap.corp.example.com: [127.0.0.2]"));
    await until("the new address on the board", (s) => s.targets.find((t) => t.name === "ldap.corp.example.com")?.addresses.join() === "127.0.0.2");
    await waitFor("HAProxy answering from the new address", async () => (await through.haproxy()) === "backend-b", 20_000);
    // Every connection after the change lands on the new address.
    const after = await Promise.all(Array.from({ length: 10 }, () => through.haproxy()));
    const result = await load.stop();
    expect(after).toEqual(Array(10).fill("backend-b"));
    expect(result.failed).toBe(0);
    expect(Object.keys(result.seen).sort()).toEqual(["backend-a", "backend-b"]);
    expect(service(fleet.board.snapshot(), "onprem-router").active?.generation).toBe(1); // applied live, no new generation
    // Squid reads the zone as its hosts_file at start only: a new generation reads the changed one.
    await until("a new egress generation for the changed hosts file", (s) => service(s, "egress").active?.generation === 3);
  }, 60_000);

  it("rolls back a generation that never gets healthy: the old one keeps serving and its bundle hash is pinned as failed", async () => {
    const router = service(fleet.board.snapshot(), "onprem-router").active!;
    // The next generation's LDAP port is taken on this machine: its HAProxy cannot bind.
    const nextPort = 636 + offset + GENERATION_OFFSETS[(router.generation + 1) % 2]!;
    const blocker = await listenOn(nextPort);
    const load = loadLoop(through.haproxy, { workers: 2, maxRequests: 20_000, maxMs: 40_000 });
    try {
      const head = await commit("More mainframe sessions (and the wildcard taken back)", async (files) => {
        await files.write("fleet.yaml", (await files.read("fleet.yaml")).replace("maxConnections: 200", "maxConnections: 300"));
        await files.write("allowlists/egress.txt", (await files.read("allowlists/egress.txt")).replace("*.bad.example.org\n", ""));
      });
      const status = await until("the rollout rolled back", (s) => s.rollouts.some((r) => r.commit === head && r.service === "onprem-router" && r.outcome === "rolled-back"));
      const failedHash = status.rollouts.find((r) => r.commit === head && r.service === "onprem-router")!.hash;
      await until("the hash pinned", (s) => service(s, "onprem-router").failedHashes.includes(failedHash));
      expect(fleet.state.value.failed["onprem-router"]).toContain(failedHash);
      expect(service(fleet.board.snapshot(), "onprem-router").active).toMatchObject({ generation: router.generation, hash: router.hash });
      const current = await fleet.bundles.current();
      expect(current?.snapshot.pinned?.["onprem-router"]?.commit).toBe(router.commit);
      await waitFor("the failure noted on the commit", async () =>
        /pinned as failed/.test((await git(repo, ["notes", `--ref=${NOTES_REF}`, "show", head])).stdout), 10_000);
      const result = await load.stop();
      expect(result.failed).toBe(0);
      expect(await through.haproxy()).toBe("backend-b");
    } finally {
      await load.stop();
      await new Promise((done) => blocker.close(done));
    }
  }, 60_000);

  it("failed no request through any proxy from the first check to here: commits, a refused commit, DNS, a rollback", async () => {
    expect(wholeRun).toBeDefined();
    const results = await stopAll(wholeRun!);
    wholeRun = undefined;
    for (const [name, result] of Object.entries(results)) {
      expect({ name, failed: result.failed }).toEqual({ name, failed: 0 });
      expect(result.ok).toBeGreaterThan(10);
    }
  });

  it("restarts a daemon that exits by itself, with backoff, and shows the restart", async () => {
    const ingress = service(fleet.board.snapshot(), "lattice-ingress").active!;
    const config = join(work.path, "work", "services", "lattice-ingress", `generation-${ingress.generation}`, "bundle", "nginx.conf");
    const master = (await run("pgrep", ["-o", "-f", config])).stdout.trim();
    expect(master).toMatch(/^\d+$/);
    process.kill(Number(master), "SIGTERM");
    const status = await until("nginx restarted", (s) => {
      const active = service(s, "lattice-ingress").active;
      return active?.restarts === 1 && active.health === "healthy";
    });
    expect(service(status, "lattice-ingress").active).toMatchObject({ generation: ingress.generation, lastRestartReason: expect.stringMatching(/exited/) });
    expect(status.events.some((e) => e.source === "supervisor" && /restarted \(restart 1\)/.test(e.message))).toBe(true);
    await waitFor("NGINX serving again", async () => (await through.nginxHttp()) === "website", 10_000);
  }, 30_000);

  it("stops cleanly: no daemon, front listener or DNS port is left", async () => {
    const dnsPort = fleet.dnsServer.port;
    await fleet.stop();
    const left = await run("pgrep", ["-f", join(work.path, "work")]);
    expect(left.stdout.trim()).toBe("");
    for (const port of EXAMPLE_PORTS) expect(await firstLine(front(port), 500)).toBe("");
    expect(await canListen(dnsPort)).toBe(true);
    await sandbox.cleanup();
    expect(execFileSync("ip", ["netns", "list"]).toString()).not.toContain(ns.name);
  }, 60_000);
});

function replaceAll(text: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`examples/fleet.yaml no longer contains "${from}": update this test`);
    text = text.split(from).join(to);
  }
  return text;
}

async function ipOk(args: string[]): Promise<void> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

function listenOn(port: number): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => done(server));
  });
}

async function canListen(port: number): Promise<boolean> {
  try {
    const server = await listenOn(port);
    await new Promise((done) => server.close(done));
    return true;
  } catch {
    return false;
  }
}

/** A port offset under which every example port, and both generation bands above it, are free here. */
async function freeOffset(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = 15_000 + 100 * Math.floor(Math.random() * 90);
    const ports = EXAMPLE_PORTS.flatMap((p) => [p + candidate, ...GENERATION_OFFSETS.map((g) => p + candidate + g)]);
    if ((await Promise.all(ports.map(canListen))).every(Boolean)) return candidate;
  }
  throw new Error("no free port offset found");
}
