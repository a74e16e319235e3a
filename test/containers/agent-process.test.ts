// The agent exactly as each image runs it (containers/agent/main.ts, the container environment, no log
// directory: every daemon line goes to stdout), without podman, so it runs wherever the daemons do. Each
// kind lives in a network namespace of its own with an S3 stand-in and backends on its loopback.
import { join } from "node:path";
import { afterEach, describe, it } from "vitest";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";
import { startAgentProcess } from "./harness.ts";
import { exercise, worldFor, type ProxyKind } from "./scenarios.ts";

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
