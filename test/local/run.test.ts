// `fleet local --run` as a whole: the loops, the status page found through the endpoint file, and everything
// gone again when the run is told to stop.
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../containers/agent/process.ts";
import { runLocalFleet } from "../../functions/cli/local.ts";
import { statusEndpointFile } from "../../functions/cli/status.ts";
import type { LocalStatus } from "../../functions/local/status.ts";
import { firstLine, freePort, namedTcpServer, type Upstream } from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let backend: Upstream;

beforeAll(async () => {
  work = await tempDir("local-run");
  backend = await namedTcpServer("database");
});

afterAll(async () => {
  await backend?.close();
  await work?.cleanup();
});

describe("fleet local --run", () => {
  it("runs the loops with the status page until told to stop, then removes what it started", async () => {
    const seed = join(work.path, "seed");
    await mkdir(seed);
    const port = await freePort();
    const offset = 100;
    await writeFile(join(seed, "fleet.yaml"), `version: 1
services:
  router:
    kind: haproxy
    listeners: [{ name: db, port: ${port - offset}, backends: [{ host: db.corp.test, port: ${backend.port} }], healthCheck: { enabled: false } }]
`);
    const hostsFile = join(seed, "local-hosts.yaml");
    await writeFile(hostsFile, "db.corp.test: [127.0.0.1]\n");
    const workDir = join(work.path, "work");
    const lines: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const running = runLocalFleet({ seed, workDir, hostsFile, portOffset: offset }, (text) => lines.push(text), stopped);
    try {
      await waitFor("the fleet running", () => lines.join("").includes("local fleet running"), 60_000);
      const url = (await readFile(statusEndpointFile(workDir), "utf8")).trim();
      expect(lines.join("")).toContain(`status page: ${url}`);
      const status = (await (await fetch(new URL("/api/status", url))).json()) as LocalStatus;
      expect(status.services.map((s) => `${s.service}:${s.ports.join()}:${s.active?.health}`)).toEqual([`router:${port}:healthy`]);
      expect(status.repository).toBe(join(workDir, "repo"));
      expect(await firstLine(port)).toBe("database");
    } finally {
      stop();
      await running;
    }
    expect(lines.join("")).toContain("local fleet stopped");
    await expect(access(statusEndpointFile(workDir))).rejects.toThrow();
    expect(await firstLine(port, 500)).toBe("");
  }, 90_000);
});
