// `fleet status` and `fleet drill lose-instance` against a running status server, and the text format alone.
import { writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../functions/cli/fleet.ts";
import { age, duration, formatStatus, plain, statusEndpointFile } from "../../functions/cli/status.ts";
import { startStatusServer, type StatusServer } from "../../functions/local/status-server.ts";
import { StatusBoard, type LocalStatus } from "../../functions/local/status.ts";
import { freePort } from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const FLEET = resolve(import.meta.dirname, "../../bin/fleet");

function capture() {
  const io = { stdout: "", stderr: "", out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

function filledBoard(): StatusBoard {
  const board = new StatusBoard(T0);
  board.update((s) => ({ ...s, repository: "/srv/fleet-config", branch: "main", headCommit: "bad0c0ffee1234567", acceptedCommit: "a1b2c3d4e5f60718" }));
  board.setService({
    service: "router", kind: "haproxy", ports: [15432],
    active: { generation: 2, hash: "9f86d081884c7d65", commit: "a1b2c3d4e5f60718", health: "healthy", ports: [25432], restarts: 1, lastRestartReason: "exit 137" },
    others: [{ generation: 3, hash: "5e884898da280471", commit: "bad0c0ffee1234567", health: "starting", ports: [25433], restarts: 0 }],
    failedHashes: ["deadbeefcafe0001"],
  });
  board.setService({ service: "egress", kind: "squid", ports: [13128], others: [], failedHashes: [] });
  board.setTargets([{ name: "db.corp.test", addresses: ["10.1.0.5", "10.1.0.6"], source: "dns", ttlSeconds: 30, resolvedAt: T0 + 50_000 }]);
  board.setTunnel({ service: "datacenter-vpn", connection: "dc1", state: "up", since: T0 + 10_000 });
  board.recordRollout({
    commit: "a1b2c3d4e5f60718", service: "router", hash: "sha256:9f86d081884c7d65", outcome: "succeeded",
    startedAt: T0 + 1000, finishedAt: T0 + 2450, timings: { healthyMs: 820, shiftedMs: 835, drainedMs: 1450 },
  });
  board.recordRejected({
    commit: "bad0c0ffee1234567", subject: "allow \u001b[31mpartner\u001b[0m", at: T0 + 5000,
    errors: [{ file: "fleet.yaml", line: 6, column: 22, rule: "cidr", message: 'services.e.allowedSources.0: "10.0.0.1/8" has host bits set' }],
  });
  board.event("warn", "rollout", "commit bad0c0f rejected: 1 error", T0 + 5000);
  return board;
}

describe("the status as text", () => {
  it("shows services with generations, targets, tunnels, rollouts, rejected commits and events", () => {
    const text = formatStatus(filledBoard().snapshot(), "http://127.0.0.1:4321/", T0 + 65_000);
    expect(text).toBe(`local fleet at http://127.0.0.1:4321/, running for 1m05s
repository /srv/fleet-config branch main
head bad0c0f, accepted a1b2c3d

services
  router (haproxy) front 15432
    active  #2 9f86d081884c @ a1b2c3d  healthy  on 25432  restarts 1 (last: exit 137)
    other   #3 5e884898da28 @ bad0c0f  starting  on 25433
    failed  deadbeefcafe (not rolled out again)
  egress (squid) front 13128
    active  none yet

targets
  db.corp.test  10.1.0.5, 10.1.0.6  dns  ttl 30 s  resolved 15 s ago

tunnels
  datacenter-vpn/dc1  up for 55 s

rollouts
  a1b2c3d router 9f86d081884c  succeeded  took 1.5 s (healthy +820 ms, shifted +835 ms, drained +1.5 s)  1m04s ago

rejected commits
  bad0c0f "allow \\u001b[31mpartner\\u001b[0m"  1m00s ago
    fleet.yaml:6:22: error[cidr]: services.e.allowedSources.0: "10.0.0.1/8" has host bits set

recent events
    1m00s ago  warn  [rollout] commit bad0c0f rejected: 1 error
`);
  });

  it("says none for empty sections and counts what it leaves to --json", () => {
    const board = new StatusBoard(T0);
    for (let i = 0; i < 40; i++) board.event("info", "dns", `answer ${i}`, T0 + i * 1000);
    const text = formatStatus(board.snapshot(), "http://127.0.0.1:1/", T0 + 40_000);
    expect(text).toContain("services\n  none yet\n\ntargets\n  none\n\ntunnels\n  none\n");
    expect(text).toContain("      1 s ago  info  [dns] answer 39\n");
    expect(text).not.toContain("answer 24\n");
    expect(text.trimEnd().split("\n").at(-1)).toBe("  … 25 more (fleet status --json)");
  });

  it("never passes control characters to the terminal", () => {
    expect(plain("a\u001b]0;title\u0007b\nc\u009bd")).toBe("a\\u001b]0;title\\u0007b\\u000ac\\u009bd");
    expect(plain("plain text, ünïcode")).toBe("plain text, ünïcode");
  });

  it("rounds ages and durations for reading", () => {
    expect([0, 999, 59_999, 60_000, 3_599_000, 3_600_000, 86_399_000, 90_061_000, -5].map(age))
      .toEqual(["0 s", "0 s", "59 s", "1m00s", "59m59s", "1h00m", "23h59m", "1d01h", "0 s"]);
    expect([0, 999.4, 1000, 1450, 1549, 61_000].map(duration)).toEqual(["0 ms", "999 ms", "1.0 s", "1.5 s", "1.5 s", "61.0 s"]);
  });
});

describe("fleet status against a running local fleet", () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let server: StatusServer;
  const board = filledBoard();
  const lost: string[] = [];

  beforeAll(async () => {
    work = await tempDir("status-cli");
    server = await startStatusServer(board, {
      endpointFile: statusEndpointFile(work.path),
      actions: {
        loseInstance: async (service) => {
          if (service !== "router") throw new Error(`no running instance of "${service}"`);
          lost.push(service);
          return { lossToTunnelUpMs: 1450 };
        },
      },
    });
  });

  afterAll(async () => {
    await server?.close();
    await work?.cleanup();
  });

  it("finds the fleet through <work>/status-endpoint and prints its status", async () => {
    expect(statusEndpointFile(work.path)).toBe(join(work.path, "status-endpoint"));
    const io = capture();
    expect(await main(["status", "--work", work.path], io)).toBe(0);
    expect(io.stderr).toBe("");
    expect(io.stdout.split("\n")[0]).toMatch(new RegExp(`^local fleet at ${server.url.replace(/[.]/g, "\\.")}, running for `));
    expect(io.stdout).toContain("    active  #2 9f86d081884c @ a1b2c3d  healthy  on 25432  restarts 1 (last: exit 137)\n");
    expect(io.stdout).toContain('    fleet.yaml:6:22: error[cidr]: services.e.allowedSources.0: "10.0.0.1/8" has host bits set\n');
  });

  it("--json prints the board's snapshot; --url reaches the server without the endpoint file", async () => {
    const io = capture();
    expect(await main(["status", "--url", server.url.replace("127.0.0.1", "localhost"), "--json"], io)).toBe(0);
    expect(JSON.parse(io.stdout) as LocalStatus).toEqual(board.snapshot());
  });

  it("drill lose-instance posts to the fleet's drill and reports its refusal", async () => {
    const io = capture();
    expect(await main(["drill", "lose-instance", "router", "--work", work.path], io)).toBe(0);
    expect(io.stdout).toBe("router: healed, tunnels up 1.5 s after the loss\n");
    expect(lost).toEqual(["router"]);
    const refused = capture();
    expect(await main(["drill", "lose-instance", "vpn", "--url", server.url], refused)).toBe(1);
    expect(refused.stderr).toBe('vpn: no running instance of "vpn"\n');
  });

  it("drill takes exactly lose-instance <service>; status takes no folder", async () => {
    for (const args of [["drill"], ["drill", "lose-instance"], ["drill", "reboot", "router"], ["drill", "lose-instance", "a", "b"], ["status", "examples"]]) {
      const io = capture();
      expect([args, await main(args, io)]).toEqual([args, 2]);
      expect(io.stderr).toContain("Usage:");
    }
  });
});

describe("fleet status with no local fleet running", () => {
  it("says so, names the endpoint file and how to start one, exit 1", async () => {
    const work = await tempDir("status-cli");
    try {
      const io = capture();
      expect(await main(["status", "--work", work.path], io)).toBe(1);
      expect(io.stderr).toBe(`fleet: no local fleet is running: ${join(work.path, "status-endpoint")} does not exist (start one with fleet local <repo> --run --work ${work.path})\n`);
      expect(io.stdout).toBe("");
      const drill = capture();
      expect(await main(["drill", "lose-instance", "router", "--work", work.path], drill)).toBe(1);
      expect(drill.stderr).toContain("no local fleet is running");
    } finally {
      await work.cleanup();
    }
  });

  it("the fleet executable exits 1 with the message", async () => {
    const work = await tempDir("status-cli");
    try {
      const failure = await promisify(execFile)(FLEET, ["status", "--work", work.path]).then(() => undefined, (error: { code: number; stderr: string }) => error);
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toBe(`fleet: no local fleet is running: ${join(work.path, "status-endpoint")} does not exist (start one with fleet local <repo> --run --work ${work.path})\n`);
    } finally {
      await work.cleanup();
    }
  });

  it("says nothing answers when the endpoint file outlived its fleet", async () => {
    const work = await tempDir("status-cli");
    try {
      const port = await freePort();
      await writeFile(statusEndpointFile(work.path), `http://127.0.0.1:${port}/\n`);
      const io = capture();
      expect(await main(["status", "--work", work.path], io)).toBe(1);
      expect(io.stderr).toBe(`fleet: no local fleet answers at http://127.0.0.1:${port}/ (connect ECONNREFUSED 127.0.0.1:${port}); is \`fleet local --run\` still running?\n`);
    } finally {
      await work.cleanup();
    }
  });

  it("names the endpoint file's line when it holds no URL", async () => {
    const work = await tempDir("status-cli");
    try {
      await writeFile(statusEndpointFile(work.path), "garbage\n");
      const io = capture();
      expect(await main(["status", "--work", work.path], io)).toBe(1);
      expect(io.stderr).toBe(`fleet: ${join(work.path, "status-endpoint")}:1: not a URL: "garbage"\n`);
    } finally {
      await work.cleanup();
    }
  });

  it("refuses a web server that is not a local fleet's status server", async () => {
    const other = createServer((_, response) => response.writeHead(200, { "content-type": "text/html" }).end("<html>hello</html>"));
    await new Promise<void>((resolveListen) => other.listen(0, "127.0.0.1", resolveListen));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
      const io = capture();
      expect(await main(["status", "--url", url], io)).toBe(1);
      expect(io.stderr).toBe(`fleet: ${url}api/status did not answer with the local fleet's status (HTTP 200)\n`);
    } finally {
      await new Promise((resolveClose) => other.close(resolveClose));
    }
  });
});
