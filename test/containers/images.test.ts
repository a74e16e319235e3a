// The built images (containers/build-images.sh) as ECS would run them: podman, runc, the image's own entry
// point and environment contract, in a network namespace the test creates with an S3 stand-in and backends on
// its loopback. Each proxy image starts from the pinned bundle, answers /healthz, proxies and logs, applies a
// runtime target change, and `podman stop` drains an open connection and exits 0.
// Skips, saying why, only where podman or the images are missing; in CI (.ci/run builds the images first and
// sets PROXY_FLEET_REQUIRE_IMAGES=1) a missing image fails instead.
import { afterEach, describe, expect, it } from "vitest";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";
import { IMAGE, SITE_ADDRESS, startContainer, unavailable } from "./harness.ts";
import { exercise, worldFor, type ProxyKind } from "./scenarios.ts";

const KINDS = ["haproxy", "nginx", "squid"] as const satisfies readonly ProxyKind[];
const reason = unavailable(KINDS);
const required = process.env.PROXY_FLEET_REQUIRE_IMAGES === "1";
if (reason && !required) process.stderr.write(`\n!!! test/containers/images.test.ts SKIPPED: ${reason}\n\n`);

const sandbox = new Sandbox();
afterEach(() => sandbox.cleanup());

describe.skipIf(reason !== undefined && !required)(`the images under podman${reason ? ` (skipped: ${reason})` : ""}`, () => {
  it("are all built", () => {
    expect(reason).toBeUndefined();
  });

  for (const kind of KINDS) {
    // HAProxy runs with node as PID 1 (podman's default, no init): the agent itself must handle SIGTERM.
    // The others run with --init, as ECS runs them (initProcessEnabled): the init forwards SIGTERM and reaps.
    const init = kind === "haproxy" ? [] : ["--init"];
    it(`${kind}: ${init.length ? "with --init" : "node as PID 1"}, starts from the S3 stand-in, proxies and logs, applies targets, podman stop drains and exits 0`, async () => {
      const work = await tempDir(`img-${kind}`);
      sandbox.track({ stop: work.cleanup });
      const world = await worldFor(kind, sandbox, work.path);
      const hosts = kind === "squid" ? ["--add-host", `backend.egress.test:${SITE_ADDRESS}`] : [];
      const task = startContainer(sandbox, world, kind, IMAGE(kind), [...init, ...hosts]);
      await exercise(kind, sandbox, world, task);
    }, 120_000);
  }
});
