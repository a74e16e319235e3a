// The same life for every proxy image, whether the agent runs as a plain process or in its container:
// start from the pinned bundle in the S3 stand-in, /healthz 200, one request proxied to a backend and seen
// in the container's output, a runtime target change applied live, and a stop that drains an open
// connection and exits 0.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { run, startDaemon, waitFor } from "../../containers/agent/process.ts";
import type { Sandbox } from "../support/sandbox.ts";
import { buildWorld, holdConnection, httpGet, HEALTH_PORT, PODMAN_GLOBAL, SITE_ADDRESS, tcpGreeting, type RunningTask, type World } from "./harness.ts";

export type ProxyKind = "haproxy" | "nginx" | "squid";

interface Scenario {
  readonly fleetYaml: string;
  readonly backends: string[];
  readonly before: Record<string, string[]>;
  readonly after: Record<string, string[]>;
  /** What one request through the proxy answers. */
  probe(world: World): Promise<string>;
  readonly expectBefore: string;
  /** After the target change; undefined when the kind applies no runtime targets (Squid: task replacement). */
  readonly expectAfter?: string;
  /** A line the daemon writes for the probe, in the container output. */
  readonly accessLog: RegExp;
  /** An exchange in flight while the task stops; resolves with whether it completed. */
  inFlight(sandbox: Sandbox, world: World): { started: Promise<void>; completed: Promise<boolean> };
}

const PROXY_PORT = 7000;

export const SCENARIOS: Record<ProxyKind, Scenario> = {
  haproxy: {
    fleetYaml: `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - name: pool
        port: ${PROXY_PORT}
        backends: [{ host: pool.internal.test, port: 7100 }]
        healthCheck: { enabled: false }
`,
    backends: ["tcp:127.0.0.1:7100:backend-one", "tcp:127.0.0.2:7100:backend-two"],
    before: { "pool.internal.test": ["127.0.0.1"] },
    after: { "pool.internal.test": ["127.0.0.2"] },
    probe: (world) => tcpGreeting(world, PROXY_PORT),
    expectBefore: "backend-one",
    expectAfter: "backend-two",
    // HAProxy's tcplog: "<client> [<date>] <frontend> <backend>/<server> <timers> <bytes> …" (configuration.txt 8.2.2)
    accessLog: /\] pool pool\/\S+ /,
    inFlight: (sandbox, world) => {
      const held = holdConnection(sandbox, world, PROXY_PORT, 2_000);
      return { started: held.connected, completed: held.result.then((r) => r.echo === true) };
    },
  },
  nginx: {
    fleetYaml: `version: 1
services:
  ingress:
    kind: nginx
    resolver: { addresses: [127.0.0.1] }
    http:
      - port: ${PROXY_PORT}
        routes: [{ match: app.example.test, upstream: { host: app.internal.test, port: 7200 } }]
`,
    backends: ["http:127.0.0.1:7200:web-one", "http:127.0.0.2:7200:web-two"],
    before: { "app.internal.test": ["127.0.0.1"] },
    after: { "app.internal.test": ["127.0.0.2"] },
    probe: async (world) => (await httpGet(world, PROXY_PORT, "/", "app.example.test")).body.trim(),
    expectBefore: "web-one",
    expectAfter: "web-two",
    // NGINX's combined access log line for the probe.
    accessLog: /"GET \/ HTTP\/1\.1" 200 /,
    inFlight: (sandbox, world) => {
      // /slow answers after 2 s: the request is in flight when the stop arrives.
      const curl = sandbox.track(startDaemon("curl", ["-s", "-m", "20", "-H", "Host: app.example.test", `http://127.0.0.1:${PROXY_PORT}/slow`], { netns: world.ns.name }));
      return {
        started: new Promise((resolve) => setTimeout(resolve, 500)),
        completed: curl.exited.then(() => /web-two|web-one/.test(curl.output())),
      };
    },
  },
  squid: {
    fleetYaml: `version: 1
services:
  egress:
    kind: squid
    port: ${PROXY_PORT}
    allowlist: allowlist.txt
    allowedSources: [127.0.0.0/8]
    connectPorts: [7300]
`,
    backends: [`tcp:${SITE_ADDRESS}:7300:egress-backend`],
    before: {},
    after: { "unused.internal.test": ["127.0.0.9"] },
    probe: (world) => tcpGreeting(world, PROXY_PORT, "backend.egress.test:7300"),
    expectBefore: "egress-backend",
    // Squid's native access.log line for the tunnel.
    accessLog: /TCP_TUNNEL\/200 .*CONNECT backend\.egress\.test:7300/,
    inFlight: (sandbox, world) => {
      const held = holdConnection(sandbox, world, PROXY_PORT, 1_000, "backend.egress.test:7300");
      return { started: held.connected, completed: held.result.then((r) => r.echo === true) };
    },
  },
};

/** Builds the world for a kind: for Squid also the allowlist file and the name of its backend. */
export async function worldFor(kind: ProxyKind, sandbox: Sandbox, dir: string): Promise<World> {
  const scenario = SCENARIOS[kind];
  const world = await buildWorld(sandbox, dir, scenario.fleetYaml, scenario.backends, scenario.before, kind === "squid" ? { "allowlist.txt": "backend.egress.test\n" } : {});
  if (kind === "squid") {
    // ip netns exec mounts /etc/netns/<ns>/hosts over /etc/hosts: Squid finds its backend there, not in DNS.
    const etc = `/etc/netns/${world.ns.name}`;
    await mkdir(etc, { recursive: true });
    await writeFile(join(etc, "hosts"), `127.0.0.1 localhost\n${SITE_ADDRESS} backend.egress.test\n`);
    sandbox.track({ stop: () => import("node:fs/promises").then((fs) => fs.rm(etc, { recursive: true, force: true })) });
  }
  return world;
}

/** Runs the whole life of one task; `start` launches it (process or container) once the world exists. */
export async function exercise(kind: ProxyKind, sandbox: Sandbox, world: World, task: RunningTask): Promise<void> {
  const scenario = SCENARIOS[kind];
  const explain = () => `container output:\n${task.lines.slice(-60).join("\n")}`;
  try {
    await waitFor("the agent to report started", () => task.agentLines().some((l) => l.agent === "started") || !task.running(), 60_000);
  } catch (error) {
    throw new Error(`${String(error)}\n${explain()}`, { cause: error });
  }
  expect(task.running(), explain()).toBe(true);
  expect(task.agentLines().find((l) => l.agent === "started"), explain()).toMatchObject({ hash: world.hash, kind });

  if (task.container) {
    // The image's own HEALTHCHECK (the command the ECS task definition runs, too).
    const check = await run("podman", [...PODMAN_GLOBAL, "healthcheck", "run", task.container], { timeoutMs: 30_000 });
    expect(check.code, `podman healthcheck run: ${check.stdout}${check.stderr}\n${explain()}`).toBe(0);
  }
  const health = await httpGet(world, HEALTH_PORT, "/healthz");
  expect(health.status, explain()).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ ok: true, service: world.service, hash: world.hash });

  expect(await scenario.probe(world), explain()).toBe(scenario.expectBefore);
  await waitFor(`${kind}'s access log line in the container output`, () => task.daemonLines(kind).some((l) => scenario.accessLog.test(l)), 10_000)
    .catch((error: unknown) => { throw new Error(`${String(error)}\n${explain()}`, { cause: error }); });

  await world.setTargets(scenario.after);
  await waitFor("the agent to apply the new runtime targets", () => task.agentLines().some((l) => l.agent === "runtime targets"), 15_000)
    .catch((error: unknown) => { throw new Error(`${String(error)}\n${explain()}`, { cause: error }); });
  const applied = task.agentLines().find((l) => l.agent === "runtime targets")!;
  if (scenario.expectAfter) {
    expect(applied, explain()).toMatchObject({ applied: true, reason: "reloaded" });
    // A reload hands new connections to new workers once they are up; old workers finish what they hold.
    let seen = "";
    await waitFor(`traffic to reach ${scenario.expectAfter}`, async () => (seen = await scenario.probe(world)) === scenario.expectAfter, 10_000)
      .catch(() => undefined);
    expect(seen, explain()).toBe(scenario.expectAfter);
  } else {
    // Squid's reload refuses new connections for ~20 ms: its changes arrive by task replacement (DESIGN.md).
    expect(applied, explain()).toMatchObject({ applied: false, reason: "squid changes only by task replacement" });
  }

  // The drain each daemon is asked for: HAProxy's master on SIGUSR1 soft-stops and quits once no connection
  // remains (haproxy doc/configuration.txt, "hard-stop-after"); NGINX's master on QUIT shuts down gracefully,
  // on TERM fast (nginx.org/en/docs/control.html); Squid on SIGTERM waits shutdown_lifetime for open
  // connections (squid-cache.org/Doc/config/shutdown_lifetime). ECS sends SIGTERM, then SIGKILL after the
  // task definition's stopTimeout (docs.aws.amazon.com, ContainerDefinition stopTimeout).
  const inFlight = scenario.inFlight(sandbox, world);
  await inFlight.started;
  const code = await task.stop();
  expect(await inFlight.completed, `the open connection was cut by the stop\n${explain()}`).toBe(true);
  expect(code, explain()).toBe(0);
  expect(task.agentLines().map((l) => l.agent), explain()).toEqual(expect.arrayContaining(["stopping", "daemon stopped", "stopped"]));
}
