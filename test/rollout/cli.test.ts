// `fleet plan --loop config-rollout` and `fleet invoke config-rollout` as a user runs them.
import { resolve } from "node:path";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../functions/cli/fleet.ts";
import { FakeAws } from "../support/fake-aws.ts";
import { FakeEcs, FakeRepository } from "../support/fake-repo.ts";
import { writeTree } from "../support/tree.ts";

function capture() {
  const io = { stdout: "", stderr: "", out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

const mocks: Array<{ restore(): void }> = [];
afterEach(() => mocks.splice(0).forEach((m) => m.restore()));

describe("fleet plan --loop config-rollout --repo", () => {
  it("lists each service's action and bundle hash", async () => {
    process.env.ECS_SERVICES = JSON.stringify({ egress: { cluster: "c", service: "egress", container: "proxy" } });
    const io = capture();
    expect(await main(["plan", "--loop", "config-rollout", "--repo", resolve(import.meta.dirname, "../../examples")], io)).toBe(0);
    expect(io.stdout).toMatch(/^ {2}egress +deploy +sha256:[0-9a-f]{64}$/m);
    expect(io.stdout).toMatch(/^ {2}onprem-router +not-deployed +sha256:[0-9a-f]{64}$/m);
  });

  it("exits 1 and lists the errors of a config that would be rejected", async () => {
    const repo = await mkdtemp(join(tmpdir(), "pf-plan-"));
    await writeTree(repo, { "fleet.yaml": "version: 1\nservices:\n  e:\n    kind: squid\n    allowlist: a.txt\n    allowedSources: [10.0.0.0/8]\n" });
    const io = capture();
    expect(await main(["plan", "--loop", "config-rollout", "--repo", repo], io)).toBe(1);
    expect(io.stdout).toContain("would be rejected");
    expect(io.stdout).toContain("fleet.yaml:5:5: error[missing-file]");
  });
});

describe("fleet invoke config-rollout --event", () => {
  it("runs the real handler on the sample push event and prints the outcome", async () => {
    const aws = new FakeAws();
    const repo = new FakeRepository("proxy-fleet-config");
    const ecs = new FakeEcs();
    mocks.push(aws, repo, ecs);
    ecs.addService("proxy-fleet", "egress", "proxy");
    const head = repo.commit("main", {
      "fleet.yaml": "version: 1\nservices:\n  egress:\n    kind: squid\n    allowlist: a.txt\n    allowedSources: [10.0.0.0/8]\n",
      "a.txt": "example.com\n",
    });
    Object.assign(process.env, {
      CONFIG_REPOSITORY: "proxy-fleet-config", CONFIG_BRANCH: "main", CONFIG_BUCKET: "b", STATE_TABLE: "t",
      ECS_SERVICES: JSON.stringify({ egress: { cluster: "proxy-fleet", service: "egress", container: "proxy" } }),
      AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "x", POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR",
    });
    const io = capture();
    const event = resolve(import.meta.dirname, "../../events/codecommit-reference-updated.json");
    expect(await main(["invoke", "config-rollout", "--event", event], io)).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({ outcome: "accepted", commit: head, services: { egress: "deploy" } });
  });
});
