// The agent exactly as each image runs it (containers/agent/main.ts, the container environment, no log
// directory: every daemon line goes to stdout), without podman, so it runs wherever the daemons do. Each
// kind lives in a network namespace of its own with an S3 stand-in and backends on its loopback.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../containers/agent/process.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";
import { buildWorld, httpGet, HEALTH_PORT, startAgentProcess } from "./harness.ts";
import { exercise, SCENARIOS, worldFor, type ProxyKind } from "./scenarios.ts";

const sandbox = new Sandbox();
afterEach(() => sandbox.cleanup());

describe("the agent as the container runs it", () => {
  for (const kind of ["haproxy", "nginx", "squid"] as const satisfies readonly ProxyKind[]) {
    it(`${kind}: starts from the S3 stand-in, proxies and logs to stdout, applies targets, drains on SIGTERM and exits 0`, async () => {
      const work = await tempDir(`ct-${kind}`);
      sandbox.track({ stop: work.cleanup });
      const world = await worldFor(kind, sandbox, work.path);
      const task = startAgentProcess(sandbox, world, kind, join(work.path, "task"));
      await exercise(kind, sandbox, world, task);
    }, 90_000);
  }
});

describe("the agent as the container runs it, when things go wrong", () => {
  it("refuses a bundle of another kind than the image runs: exit 1, naming both kinds and the pinned hash", async () => {
    const work = await tempDir("ct-kind");
    sandbox.track({ stop: work.cleanup });
    const world = await worldFor("haproxy", sandbox, work.path);
    const task = startAgentProcess(sandbox, world, "haproxy", join(work.path, "task"), { PROXY_FLEET_KIND: "squid" });
    expect(await task.exited).toBe(1);
    const failure = task.agentLines().find((l) => l.agent === "failed to start");
    expect(failure?.error).toBe(`bundle router (${world.hash}) is a haproxy service, but this image runs squid (pinned bundle ${world.hash})`);
  }, 60_000);

  it("handles SIGTERM while start-up waits on a hung S3 endpoint: stops before starting anything and exits 0", async () => {
    const work = await tempDir("ct-hung");
    sandbox.track({ stop: work.cleanup });
    const world = await buildWorld(sandbox, work.path, SCENARIOS.haproxy.fleetYaml, ["hang:127.0.0.1:9100:s3"], {});
    const task = startAgentProcess(sandbox, world, "haproxy", join(work.path, "task"), { AWS_ENDPOINT_URL: "http://127.0.0.1:9100" });
    await waitFor("the agent to reach the hung endpoint", () => world.standInOutput().includes("s3 accepted") || !task.running(), 30_000);
    expect(task.running()).toBe(true);
    expect(await task.stop()).toBe(0);
    expect(task.agentLines().find((l) => l.agent === "stopping")).toMatchObject({ reason: "received SIGTERM" });
    expect(task.agentLines().some((l) => l.agent === "started")).toBe(false);
  }, 60_000);

  it("ends with status 1, naming the daemon and its signal, when the daemon dies behind its back", async () => {
    const work = await tempDir("ct-dead");
    sandbox.track({ stop: work.cleanup });
    const world = await worldFor("haproxy", sandbox, work.path);
    const task = startAgentProcess(sandbox, world, "haproxy", join(work.path, "task"));
    await waitFor("the agent to report started", () => task.agentLines().some((l) => l.agent === "started") || !task.running(), 60_000);
    expect((await httpGet(world, HEALTH_PORT, "/healthz")).status).toBe(200);
    // The agent's only child is the HAProxy master.
    const [master] = readFileSync(`/proc/${task.pid}/task/${task.pid}/children`, "utf8").trim().split(" ").map(Number);
    expect(readFileSync(`/proc/${master}/comm`, "utf8").trim()).toBe("haproxy");
    process.kill(master!, "SIGKILL");
    expect(await task.exited).toBe(1);
    expect(task.agentLines().find((l) => l.agent === "daemon exited; stopping the task so it is replaced"))
      .toMatchObject({ daemon: "haproxy", signal: "SIGKILL" });
  }, 60_000);
});
