// The host helper a strongSwan instance runs from its user data (stacks/StrongswanSites.ts WARM_POOL_SCRIPT), run
// for real with bash against a fake instance metadata service on loopback (IMDSv2: a token first, then the target
// lifecycle state: https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html)
// and stand-ins for aws, docker and systemctl that record how they were called.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WARM_POOL_SCRIPT } from "../../stacks/StrongswanSites.ts";

const IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-hnb659fds-container-assets:0123abcd";

interface Run { readonly calls: string[]; readonly reads: number; readonly code: number | null }

let server: Server | undefined;
let dir: string | undefined;
afterEach(() => {
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  server = dir = undefined;
});

/** Runs the helper while the metadata service answers `states` in turn (the last one from then on). */
async function runHelper(states: string[]): Promise<Run> {
  dir = mkdtempSync(join(tmpdir(), "proxy-fleet-warm-pool-"));
  const log = join(dir, "calls.log");
  for (const tool of ["aws", "docker", "systemctl", "dnf"]) {
    const shim = join(dir, tool);
    // aws ecr get-login-password prints a password; the others only record their arguments.
    writeFileSync(shim, `#!/bin/bash\necho "${tool} $*" >> ${log}\n${tool === "aws" ? "echo secret" : "cat > /dev/null 2>&1 || true"}\n`);
    chmodSync(shim, 0o755);
  }
  writeFileSync(log, "");
  let reads = 0;
  const tokens = new Set<string>();
  server = createServer((request, response) => {
    if (request.method === "PUT" && request.url === "/latest/api/token" && request.headers["x-aws-ec2-metadata-token-ttl-seconds"]) {
      const token = `t${tokens.size}`;
      tokens.add(token);
      return response.end(token);
    }
    if (request.url === "/latest/meta-data/autoscaling/target-lifecycle-state" && tokens.has(String(request.headers["x-aws-ec2-metadata-token"]))) {
      return response.end(states[Math.min(reads++, states.length - 1)]);
    }
    response.statusCode = 401;
    response.end();
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const script = join(dir, "proxy-fleet-warm-pool");
  writeFileSync(script, WARM_POOL_SCRIPT);
  const child = spawn("bash", [script, IMAGE, "us-east-1"], {
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, PROXY_FLEET_IMDS: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
    stdio: "ignore",
  });
  const code = await new Promise<number | null>((resolve) => {
    const limit = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (c) => (clearTimeout(limit), resolve(c)));
  });
  return { calls: readFileSync(log, "utf8").trim().split("\n").filter(Boolean), reads, code };
}

describe("the warm-pool helper on a strongSwan host", () => {
  it("a running warm instance: pulls the image while warm, then restarts the ECS agent once the target state is InService", async () => {
    const run = await runHelper(["Warmed:Running", "Warmed:Running", "Warmed:Running", "InService"]);
    expect(run.code).toBe(0);
    // The login is one pipeline (aws | docker login): its two sides run together, in either order.
    expect(run.calls.slice(0, 2).sort()).toEqual([
      "aws ecr get-login-password --region us-east-1",
      "docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ]);
    expect(run.calls.slice(2)).toEqual([`docker pull ${IMAGE}`, "systemctl restart ecs"]);
    expect(run.reads).toBe(4); // once to decide, then once a second until InService
  }, 30_000);

  it("a cold launch, or a stopped instance booting into service: InService at the first read, nothing pulled or restarted", async () => {
    const run = await runHelper(["InService"]);
    expect(run.code).toBe(0);
    expect(run.calls).toEqual([]);
    expect(run.reads).toBe(1);
  }, 30_000);
});
