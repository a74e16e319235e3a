// One proxy task's world, built in a network namespace the test creates: an S3/SSM stand-in and backends on
// its loopback, the pinned bundle and runtime document in the stand-in's bucket, and the agent started either
// as a plain process (node containers/agent/main.ts, exactly as the image's entry point runs it) or as a
// podman container sharing the namespace. Both runners print the same container output, which the
// scenarios read: the agent's JSON lines and each daemon's lines tagged by daemon.
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { renderBundle } from "../../functions/render/bundle.ts";
import { runtimeDocumentKey } from "../../functions/aws/config-bucket.ts";
import type { ResolvedTargets } from "../../functions/render/context.ts";
import type { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor, type Daemon } from "../../containers/agent/process.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import type { Sandbox } from "../support/sandbox.ts";

export const REPO = resolve(import.meta.dirname, "../..");
export const NODE = process.execPath;
export const STAND_IN = resolve(import.meta.dirname, "stand-in.ts");
export const BUCKET = "fleet-config";
export const AWS_PORT = 9000;
export const HEALTH_PORT = 8081;
/** A non-loopback address inside the namespace: Squid refuses loopback destinations by design. */
export const SITE_ADDRESS = "10.250.0.1";

export type Kind = "haproxy" | "nginx" | "squid" | "strongswan";

export interface World {
  readonly ns: NetworkNamespace;
  readonly dataDir: string;
  readonly env: Record<string, string>;
  readonly hash: string;
  readonly service: string;
  /** Replaces the runtime target document the agent polls. */
  setTargets(targets: ResolvedTargets): Promise<void>;
  /** What the stand-in printed (its "hang" endpoints say when they accepted a connection). */
  standInOutput(): string;
  /** Runs a command in the namespace. */
  exec(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Builds the namespace, the stand-in with its backends, and the bucket holding the service's bundle. */
export async function buildWorld(
  sandbox: Sandbox, dir: string, fleetYaml: string, backends: string[], targets: ResolvedTargets, repoFiles: Record<string, string> = {},
): Promise<World> {
  const ns = await sandbox.namespace("pfct");
  await ns.ip(["addr", "add", `${SITE_ADDRESS}/32`, "dev", "lo"]);
  const model = await loadOrThrow({ "fleet.yaml": fleetYaml, ...repoFiles });
  const service = model.services[0]!;
  const bundle = renderBundle(service);
  const dataDir = join(dir, "aws");
  const bundleKey = `bundles/${service.name}/${bundle.hash.replace(":", "-")}.json`;
  await mkdir(join(dataDir, "s3", BUCKET, "bundles", service.name), { recursive: true });
  await mkdir(join(dataDir, "s3", BUCKET, "runtime", service.name), { recursive: true });
  await mkdir(join(dataDir, "ssm"), { recursive: true });
  await writeFile(join(dataDir, "s3", BUCKET, bundleKey), JSON.stringify(bundle));
  const setTargets = (t: ResolvedTargets) =>
    writeFile(join(dataDir, "s3", BUCKET, runtimeDocumentKey(service.name)), JSON.stringify({ service: service.name, targets: t }));
  await setTargets(targets);
  const standIn = sandbox.track(startDaemon(NODE, [STAND_IN, "serve", dataDir, String(AWS_PORT), ...backends], { netns: ns.name }));
  await waitFor("the stand-in", () => standIn.output().includes("ready") || !standIn.running(), 10_000);
  if (!standIn.running()) throw new Error(`stand-in exited: ${standIn.output()}`);
  return {
    ns, dataDir, hash: bundle.hash, service: service.name, setTargets, standInOutput: () => standIn.output(),
    exec: (command, args) => run(command, args, { netns: ns.name, timeoutMs: 30_000 }),
    env: {
      CONFIG_BUCKET: BUCKET,
      PROXY_FLEET_SERVICE: service.name,
      PROXY_FLEET_BUNDLE_KEY: bundleKey,
      PROXY_FLEET_BUNDLE_HASH: bundle.hash,
      PROXY_FLEET_COMMIT: "0123456789abcdef0123456789abcdef01234567",
      HEALTH_PORT: String(HEALTH_PORT),
      POLL_SECONDS: "1",
      // The SDK's standard endpoint override; an IP-address endpoint makes S3 use path-style requests.
      AWS_ENDPOINT_URL: `http://127.0.0.1:${AWS_PORT}`,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "stand-in",
      AWS_SECRET_ACCESS_KEY: "stand-in",
    },
  };
}

/** A running agent (process or container) whose output lines are collected as they arrive. */
export interface RunningTask {
  readonly lines: string[];
  /** The container's name, for podman commands (undefined for a plain process). */
  readonly container?: string;
  /** The agent's (or podman's) process id. */
  readonly pid: number;
  /** The agent's own JSON lines, parsed. */
  agentLines(): Array<Record<string, unknown>>;
  /** The lines a daemon wrote, as the agent tagged them. */
  daemonLines(daemon: string): string[];
  /** Asks the task to stop (SIGTERM / podman stop) and resolves with its exit status. */
  stop(): Promise<number | null>;
  readonly exited: Promise<number | null>;
  running(): boolean;
}

function collect(daemon: Daemon, lines: string[], onStop: () => Promise<void>): RunningTask {
  const parsed = () => lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  const exited = daemon.exited.then((e) => e.code);
  return {
    lines,
    agentLines: () => parsed().filter((l) => typeof l.agent === "string"),
    daemonLines: (name) => parsed().filter((l) => l.daemon === name).map((l) => String(l.line)),
    stop: async () => {
      await onStop();
      return exited;
    },
    exited,
    running: () => daemon.running(),
    pid: daemon.process.pid!,
  };
}

/** The agent exactly as the image runs it: its entry point, container environment, output to stdout. */
export function startAgentProcess(sandbox: Sandbox, world: World, kind: Kind, dir: string, extraEnv: Record<string, string> = {}): RunningTask {
  const entry = join(REPO, "containers/agent", kind === "strongswan" ? "strongswan-main.ts" : "main.ts");
  const lines: string[] = [];
  const daemon = sandbox.track(startDaemon(NODE, [entry], {
    netns: world.ns.name,
    env: {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      ...world.env,
      PROXY_FLEET_KIND: kind,
      // The image's paths (/etc/proxy-fleet/bundle, /run/proxy-fleet) belong to the machine here.
      PROXY_FLEET_BUNDLE_DIR: join(dir, "bundle"),
      PROXY_FLEET_RUN_DIR: join(dir, "run"),
      ...extraEnv,
    },
    onLine: (line) => lines.push(line),
  }));
  return collect(daemon, lines, async () => {
    daemon.process.kill("SIGTERM");
    await daemon.exited;
  });
}

/** The image, started with podman in the world's namespace, stopped with `podman stop`. */
export function startContainer(sandbox: Sandbox, world: World, kind: Kind, image: string, extraArgs: string[] = []): RunningTask {
  const name = `pf-test-${kind}-${process.pid}`;
  const lines: string[] = [];
  const envArgs = Object.entries(world.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const daemon = sandbox.track(startDaemon("podman", [
    ...PODMAN_GLOBAL, "run", "--rm", "--name", name, "--network", `ns:/run/netns/${world.ns.name}`,
    ...PODMAN_RUN, ...envArgs, ...extraArgs, image,
  ], { onLine: (line) => lines.push(line) }));
  const task = collect(daemon, lines, async () => {
    await run("podman", [...PODMAN_GLOBAL, "stop", "-t", "30", name], { timeoutMs: 60_000 });
    await daemon.exited;
  });
  return { ...task, container: name, lines };
}

/** runc, not crun: crun fails on this kernel ("cgroups in hybrid mode"). */
export const PODMAN_GLOBAL = ["--runtime", "runc"];
/**
 * podman needs explicit limits here, never above this process's hard limits (runc: "error setting rlimit").
 * The image's HEALTHCHECK runs through `podman healthcheck run` (the periodic timer needs systemd).
 */
const hardNofile = Number(spawnSync("sh", ["-c", "ulimit -Hn"]).stdout?.toString().trim()) || 1024;
export const PODMAN_RUN = [
  "--ulimit", `nofile=${Math.min(hardNofile, 65535)}:${Math.min(hardNofile, 65535)}`, "--ulimit", "nproc=4096:4096",
  "--health-interval", "disable",
];

/** GET http://127.0.0.1:<port><path> inside the namespace; "" when nothing answers. */
export async function httpGet(world: World, port: number, path: string, host?: string): Promise<{ status: number; body: string }> {
  const r = await world.exec("curl", ["-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", ...(host ? ["-H", `Host: ${host}`] : []), `http://127.0.0.1:${port}${path}`]);
  const lines = r.stdout.split("\n");
  return { status: Number(lines.pop()), body: lines.join("\n") };
}

/** The greeting a TCP backend sends, read through the proxy inside the namespace. */
export async function tcpGreeting(world: World, port: number, via?: string): Promise<string> {
  const r = await world.exec(NODE, [STAND_IN, "hold", "127.0.0.1", String(port), "0", ...(via ? ["connect", via] : [])]);
  const line = r.stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}";
  return String((JSON.parse(line) as { greeting?: string }).greeting ?? "");
}

/** Opens a connection that stays open for `ms`, then checks it still carries data. */
export function holdConnection(sandbox: Sandbox, world: World, port: number, ms: number, via?: string): { connected: Promise<void>; result: Promise<Record<string, unknown>> } {
  const client = sandbox.track(startDaemon(NODE, [STAND_IN, "hold", "127.0.0.1", String(port), String(ms), ...(via ? ["connect", via] : [])], { netns: world.ns.name }));
  return {
    connected: waitFor("the held connection", () => client.output().includes("connected") || !client.running(), 10_000),
    result: client.exited.then(() => JSON.parse(client.output().split("\n").find((l) => l.startsWith("{")) ?? "{}") as Record<string, unknown>),
  };
}

export const IMAGE = (kind: string) => `localhost/proxy-fleet/${kind}:latest`;

/** Why the images cannot be tested here, or undefined when they can. */
export function unavailable(kinds: readonly string[]): string | undefined {
  const podman = spawnSync("podman", [...PODMAN_GLOBAL, "--version"]);
  if (podman.error || podman.status !== 0) return "podman is not installed (containers/build-images.sh installs it)";
  const missing = kinds.filter((kind) => spawnSync("podman", [...PODMAN_GLOBAL, "image", "exists", IMAGE(kind)]).status !== 0);
  if (missing.length > 0) return `images not built: ${missing.map(IMAGE).join(", ")} (run ./dev images)`;
  return undefined;
}
