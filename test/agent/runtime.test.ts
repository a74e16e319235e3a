// The agent's life, without daemons: a daemon that dies on its own ends the agent with status 1 (so ECS
// replaces the task), a requested stop runs every cleanup newest first and exits 0, and a daemon's output is
// split into lines without growing a buffer.
import { createServer } from "node:http";
import { describe, expect, it, vi } from "vitest";
import type { ApplyResult } from "../../containers/agent/agent.ts";
import { AgentMetrics, type MetricValues } from "../../containers/agent/metrics.ts";
import { LineSplitter, startDaemon } from "../../containers/agent/process.ts";
import { Lifecycle, pollAndServe } from "../../containers/agent/runtime.ts";

const quietly = () => vi.spyOn(process.stdout, "write").mockImplementation(() => true);

describe("Lifecycle", () => {
  it("exits 1 when the daemon exits without being asked to, naming it and its last words", async () => {
    const write = quietly();
    const exits: number[] = [];
    const lifecycle = new Lifecycle((code) => exits.push(code));
    const daemon = startDaemon("sh", ["-c", "echo 'bind failed: address in use' >&2; exit 3"]);
    lifecycle.supervise("haproxy", daemon);
    await daemon.exited;
    await vi.waitFor(() => expect(exits).toEqual([1]));
    const logged = write.mock.calls.map(([line]) => String(line)).join("");
    write.mockRestore();
    expect(logged).toContain('"agent":"daemon exited; stopping the task so it is replaced","daemon":"haproxy","code":3');
    expect(logged).toContain("bind failed: address in use");
  });

  it("a requested stop runs the cleanups newest first, does not count the daemon's exit as a death, and exits 0", async () => {
    const write = quietly();
    const exits: number[] = [];
    const order: string[] = [];
    const lifecycle = new Lifecycle((code) => exits.push(code));
    const daemon = startDaemon("sleep", ["30"]);
    lifecycle.supervise("nginx", daemon);
    lifecycle.onStop(async () => { order.push("daemon"); await daemon.stop(); });
    lifecycle.onStop(async () => { order.push("health"); });
    await lifecycle.stop("received SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 50));
    write.mockRestore();
    expect(order).toEqual(["health", "daemon"]);
    expect(exits).toEqual([0]);
  });

  it("a failed start-up exits 1 with the reason", async () => {
    const write = quietly();
    const exits: number[] = [];
    const lifecycle = new Lifecycle((code) => exits.push(code));
    lifecycle.run(async () => { throw new Error("could not read bundle s3://config/x: AccessDenied"); });
    await vi.waitFor(() => expect(exits).toEqual([1]));
    const logged = write.mock.calls.map(([line]) => String(line)).join("");
    write.mockRestore();
    expect(logged).toContain('"agent":"failed to start","error":"could not read bundle s3://config/x: AccessDenied"');
  });
});

describe("event metrics", () => {
  const capture = () => {
    const documents: Array<MetricValues & { Service: string }> = [];
    return { documents, metrics: new AgentMetrics("router", (line) => documents.push(JSON.parse(line))) };
  };

  it("a daemon that dies on its own is one DaemonRestarts (ECS replaces the task); a requested stop is none", async () => {
    const write = quietly();
    const died = capture();
    const exits: number[] = [];
    const dying = startDaemon("sh", ["-c", "exit 3"]);
    new Lifecycle((code) => exits.push(code)).supervise("haproxy", dying, died.metrics);
    await vi.waitFor(() => expect(exits).toEqual([1]));

    const stopped = capture();
    const lifecycle = new Lifecycle((code) => exits.push(code));
    const daemon = startDaemon("sleep", ["30"]);
    lifecycle.supervise("nginx", daemon, stopped.metrics);
    lifecycle.onStop(() => daemon.stop());
    await lifecycle.stop("received SIGTERM");
    await daemon.exited;
    write.mockRestore();
    expect(died.documents).toMatchObject([{ Service: "router", DaemonRestarts: 1 }]);
    expect(stopped.documents).toEqual([]);
  });

  it("each polled target document counts what its apply did: reload, refused candidate, or nothing", async () => {
    const write = quietly();
    vi.stubEnv("POLL_SECONDS", "0.02");
    const { documents, metrics } = capture();
    const results: ApplyResult[] = [
      { applied: true, reason: "reloaded" },
      { applied: false, reason: "candidate refused by haproxy, the running config stays:\n[ALERT] …" },
      { applied: false, reason: "unchanged" },
    ];
    const lifecycle = new Lifecycle(() => undefined);
    let polls = 0;
    pollAndServe(lifecycle, { applyTargets: async () => results[polls - 1]! }, {
      // Three documents, then nothing new.
      poll: async () => (++polls <= results.length ? { "web.internal.test": [`10.0.0.${polls}`] } : undefined),
    }, createServer(), metrics);
    try {
      await vi.waitFor(() => expect(polls).toBeGreaterThan(results.length), { timeout: 5_000 });
    } finally {
      await lifecycle.stop("test over");
      vi.unstubAllEnvs();
      write.mockRestore();
    }
    expect(documents).toMatchObject([
      { Service: "router", TargetApplies: 1, Reloads: 1 },
      { Service: "router", RefusedCandidates: 1 },
    ]);
    expect(documents).toHaveLength(2);
  });
});

describe("daemon output", () => {
  it("arrives line by line, a line without an end cut into bounded pieces", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    splitter.push("first\r\nsec");
    splitter.push("ond\n");
    splitter.push("x".repeat(40_000));
    expect(lines.slice(0, 2)).toEqual(["first", "second"]);
    expect(lines.slice(2).map((l) => l.length)).toEqual([16_384, 16_384]);
    splitter.flush();
    expect(lines.at(-1)).toHaveLength(40_000 - 2 * 16_384);
  });

  it("keeps only a bounded tail, and hands on every line", async () => {
    const seen: string[] = [];
    const daemon = startDaemon("sh", ["-c", "i=0; while [ $i -lt 1000 ]; do echo line $i; i=$((i+1)); done"], { onLine: (l) => seen.push(l) });
    await daemon.exited;
    expect(seen).toHaveLength(1000);
    expect(daemon.output().split("\n")).toHaveLength(200);
    expect(daemon.output().split("\n").at(-1)).toBe("line 999");
  });

  it("is a FIFO the daemon can reopen as /dev/stdout (a socketpair gives ENXIO)", async () => {
    const seen: string[] = [];
    const daemon = startDaemon("sh", ["-c", "echo reopened > /dev/stdout; echo to-stderr > /dev/stderr"], { onLine: (l) => seen.push(l) });
    const exit = await daemon.exited;
    expect(exit.code).toBe(0);
    expect(seen).toEqual(["reopened", "to-stderr"]);
  });

  it("reports a daemon whose binary is missing instead of crashing", async () => {
    const daemon = startDaemon("no-such-daemon-binary", []);
    expect((await daemon.exited).error).toMatch(/no-such-daemon-binary: spawn no-such-daemon-binary ENOENT/);
    expect(daemon.running()).toBe(false);
  });
});
