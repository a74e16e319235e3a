// The config-rollout and rollout-watch Lambdas through the real SDK clients, answered in-process by a
// CodeCommit repository, an ECS cluster, S3, DynamoDB and EventBridge in memory.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { PostCommentForComparedCommitCommand } from "@aws-sdk/client-codecommit";
import { RegisterTaskDefinitionCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { loadFleet } from "../../functions/fleet/load.ts";
import { MemoryTree } from "../../functions/fleet/tree.ts";
import { renderFleet } from "../../functions/render/bundle.ts";
import { FakeAws } from "../support/fake-aws.ts";
import { FakeEcs, FakeRepository } from "../support/fake-repo.ts";

const EVENTS = resolve(import.meta.dirname, "../../events");
const REPOSITORY = "proxy-fleet-config";
type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;

let aws: FakeAws;
let repo: FakeRepository;
let ecs: FakeEcs;
let rollout: Handler;
let watch: Handler;
const context = { functionName: "config-rollout", awsRequestId: "r", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

const FLEET = `version: 1
services:
  router:
    kind: haproxy
    listeners: [{ name: pg, port: 5432, backends: [{ host: 10.1.0.5, port: 5432 }] }]
  egress:
    kind: squid
    allowlist: allowlists/egress.txt
    allowedSources: [10.0.0.0/8]
`;

async function pushEvent(commit: string, overrides: Record<string, unknown> = {}) {
  const event = JSON.parse(await readFile(`${EVENTS}/codecommit-reference-updated.json`, "utf8"));
  Object.assign(event.detail, { commitId: commit, repositoryName: REPOSITORY, ...overrides });
  return event;
}

async function deploymentEvent(name: "failed" | "completed", deploymentId: string) {
  const event = JSON.parse(await readFile(`${EVENTS}/ecs-deployment-${name}.json`, "utf8"));
  event.detail.deploymentId = deploymentId;
  return event;
}

async function bundleHash(files: Record<string, string>, service: string) {
  const loaded = await loadFleet(new MemoryTree(files));
  if (!loaded.ok) throw new Error("fixture invalid");
  return renderFleet(loaded.model).bundles.find((b) => b.service === service)!.hash;
}

const ecsWrites = () => ecs.client.commandCalls(RegisterTaskDefinitionCommand).length + ecs.client.commandCalls(UpdateServiceCommand).length;
const s3Writes = () => aws.s3.commandCalls(PutObjectCommand).length;

beforeAll(() => {
  Object.assign(process.env, {
    CONFIG_REPOSITORY: REPOSITORY, CONFIG_BRANCH: "main", CONFIG_BUCKET: "config", STATE_TABLE: "state",
    ECS_SERVICES: JSON.stringify({
      router: { cluster: "proxy-fleet", service: "router", container: "proxy" },
      egress: { cluster: "proxy-fleet", service: "egress", container: "proxy" },
    }),
    AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
    POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR", POWERTOOLS_TRACE_ENABLED: "false",
  });
});

beforeEach(async () => {
  vi.resetModules();
  aws = new FakeAws();
  repo = new FakeRepository(REPOSITORY);
  ecs = new FakeEcs();
  ecs.addService("proxy-fleet", "router", "proxy");
  ecs.addService("proxy-fleet", "egress", "proxy");
  rollout = (await import("../../functions/config-rollout.ts")).handler as unknown as Handler;
  watch = (await import("../../functions/rollout-watch.ts")).handler as unknown as Handler;
});

afterEach(() => {
  aws.restore();
  repo.restore();
  ecs.restore();
});

async function firstRollout() {
  const commit = repo.commit("main", { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.example.com\n", "README.md": "# config\n" });
  const summary = await rollout(await pushEvent(commit), context);
  return { commit, summary };
}

describe("accepted commits", () => {
  it("roll out every service of the first commit: bundle stored, revision pinned, service updated, commit commented", async () => {
    const { commit, summary } = await firstRollout();
    expect(summary).toMatchObject({ outcome: "accepted", commit, services: { egress: "deploy", router: "deploy" } });
    const egressHash = await bundleHash(repo.commits.get(commit)!.files, "egress");
    const key = `bundles/egress/${egressHash.replace(":", "-")}.json`;
    expect(aws.s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: "config", Key: key, IfNoneMatch: "*" });
    expect(JSON.parse(aws.objects.get(key)!.body)).toMatchObject({ service: "egress", kind: "squid", hash: egressHash });
    expect(ecs.client).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, {
      family: "egress", cpu: "256", memory: "512", tags: [{ key: "app", value: "proxy-fleet" }],
      containerDefinitions: [{
        name: "proxy", image: "proxy-fleet/egress:1",
        environment: [
          { name: "LOG_LEVEL", value: "info" },
          { name: "PROXY_FLEET_BUNDLE_KEY", value: key },
          { name: "PROXY_FLEET_BUNDLE_HASH", value: egressHash },
          { name: "PROXY_FLEET_COMMIT", value: commit },
        ],
      }],
    });
    expect(ecs.client).toHaveReceivedCommandWith(UpdateServiceCommand, {
      cluster: "proxy-fleet", service: "egress", taskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/egress:2",
    });
    expect(JSON.parse(aws.objects.get("accepted/current.json")!.body)).toEqual({
      commit, files: { "allowlists/egress.txt": "api.example.com\n", "fleet.yaml": FLEET },
    });
    expect(repo.comments).toHaveLength(1);
    expect(repo.comments[0]!.content).toMatch(/accepted .*\n\n- egress: rolling out sha256:[0-9a-f]{12} as egress:2/s);
    expect(aws.published.map((e) => e.detailType)).toEqual(["Config Accepted"]);
  });

  it("a commit that changes only the Squid allowlist registers one task definition and updates one service", async () => {
    await firstRollout();
    ecs.client.resetHistory();
    const commit = repo.commit("main", { "allowlists/egress.txt": "api.example.com\n.example.org\n" });
    const summary = await rollout(await pushEvent(commit), context);
    expect(summary).toMatchObject({ outcome: "accepted", services: { egress: "deploy", router: "unchanged" } });
    expect(ecs.client).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 1);
    expect(ecs.client).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(ecs.client).toHaveReceivedCommandWith(UpdateServiceCommand, { service: "egress" });
  });

  it("the same event delivered twice registers nothing the second time, and writes nothing", async () => {
    const { commit } = await firstRollout();
    ecs.client.resetHistory();
    aws.resetHistory();
    repo.client.resetHistory();
    const again = await rollout(await pushEvent(commit), context);
    expect(again).toEqual({ outcome: "up-to-date", commit });
    expect(ecsWrites()).toBe(0);
    expect(aws.writes()).toEqual({});
    expect(repo.client).not.toHaveReceivedCommand(PostCommentForComparedCommitCommand);
  });

  it("an out-of-order older event changes nothing: the loop goes by the branch head", async () => {
    const { commit: older } = await firstRollout();
    const newer = repo.commit("main", { "allowlists/egress.txt": "api.example.com\nnew.example.com\n" });
    await rollout(await pushEvent(newer), context);
    ecs.client.resetHistory();
    aws.resetHistory();
    expect(await rollout(await pushEvent(older), context)).toEqual({ outcome: "up-to-date", commit: newer });
    expect(ecsWrites()).toBe(0);
    expect(aws.writes()).toEqual({});
  });

  it("a commit touching nothing the fleet reads rolls nothing out", async () => {
    await firstRollout();
    ecs.client.resetHistory();
    const commit = repo.commit("main", { "README.md": "# config, now documented\n" });
    expect(await rollout(await pushEvent(commit), context)).toEqual({ outcome: "irrelevant", commit });
    expect(ecsWrites()).toBe(0);
  });
});

describe("rejected commits", () => {
  it("roll out nothing: no ECS or S3 write; the errors are posted on the commit, at their lines, and published", async () => {
    await firstRollout();
    ecs.client.resetHistory();
    aws.resetHistory();
    const bad = repo.commit("main", {
      "fleet.yaml": FLEET.replace("allowedSources: [10.0.0.0/8]", "allowedSources: [10.0.0.1/8]"),
      "allowlists/egress.txt": "api.example.com\n*\n",
    });
    const summary = await rollout(await pushEvent(bad), context);
    expect(summary).toEqual({
      outcome: "rejected", commit: bad,
      errors: [
        "allowlists/egress.txt:2 allowlist-too-broad: \"*\" would allow every domain",
        "fleet.yaml:9 cidr: services.egress.allowedSources.0: \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)",
      ],
    });
    expect(ecsWrites()).toBe(0);
    expect(s3Writes()).toBe(0);
    const posted = repo.comments.filter((c) => c.afterCommitId === bad);
    expect(posted[0]!.content).toContain("rejected");
    expect(posted[0]!.content).toContain("`fleet.yaml:9:22` **cidr**");
    expect(posted.slice(1).map((c) => c.location)).toEqual([
      { filePath: "allowlists/egress.txt", filePosition: 2, relativeFileVersion: "AFTER" },
      { filePath: "fleet.yaml", filePosition: 9, relativeFileVersion: "AFTER" },
    ]);
    expect(aws.published.at(-1)).toMatchObject({ detailType: "Config Rejected", detail: { commit: bad } });
    // The running config stays as it was: the accepted snapshot is the previous commit's.
    expect(JSON.parse(aws.objects.get("accepted/current.json")!.body).commit).not.toBe(bad);
  });
});

describe("events that do not concern the tracked branch", () => {
  for (const [what, overrides] of [
    ["another branch", { referenceName: "feature", referenceFullName: "refs/heads/feature" }],
    ["a tag", { referenceType: "tag", referenceName: "v1", referenceFullName: "refs/tags/v1" }],
    ["another repository", { repositoryName: "something-else" }],
    ["a deleted reference", { event: "referenceDeleted" }],
  ] as const) {
    it(`ignores ${what} without a single call`, async () => {
      const commit = repo.commit("main", { "fleet.yaml": FLEET, "allowlists/egress.txt": "a.example.com\n" });
      const summary = await rollout(await pushEvent(commit, overrides), context);
      expect(summary).toHaveProperty("ignored");
      expect(repo.client.calls()).toHaveLength(0);
      expect(aws.totalCalls() + ecs.client.calls().length).toBe(0);
    });
  }
});

describe("rollout watch", () => {
  it("pins a failed deployment's version, comments on its commit, and never retries it; the next commit proceeds", async () => {
    await firstRollout();
    const change = repo.commit("main", { "allowlists/egress.txt": "api.example.com\nbroken.example.com\n" });
    const accepted = await rollout(await pushEvent(change), context) as { deployments: Array<{ service: string; deploymentId: string }> };
    const deploymentId = accepted.deployments.find((d) => d.service === "egress")!.deploymentId;
    const failedHash = await bundleHash(repo.commits.get(change)!.files, "egress");

    const outcome = await watch(await deploymentEvent("failed", deploymentId), context);
    expect(outcome).toEqual({ kind: "failed", service: "egress", hash: failedHash, commit: change });
    expect(repo.comments.at(-1)!.content).toContain(`version ${failedHash} is pinned as failed`);
    expect(aws.published.at(-1)).toMatchObject({ detailType: "Config Rollout Failed", detail: { service: "egress", deploymentId } });
    // Delivered twice: nothing more happens.
    expect(await watch(await deploymentEvent("failed", deploymentId), context)).toEqual({ kind: "unknown-deployment", deploymentId });

    // A commit that brings the same egress bundle back (a no-op change elsewhere) does not retry it...
    ecs.client.resetHistory();
    const same = repo.commit("main", { "fleet.yaml": FLEET.replace("port: 5432, backends", "port: 5433, backends") });
    expect(await rollout(await pushEvent(same), context)).toMatchObject({ services: { egress: "skip-failed", router: "deploy" } });
    expect(ecs.client).not.toHaveReceivedCommandWith(UpdateServiceCommand, { service: "egress" });

    // ...and the next commit that changes egress rolls out normally.
    const fix = repo.commit("main", { "allowlists/egress.txt": "api.example.com\nfixed.example.com\n" });
    expect(await rollout(await pushEvent(fix), context)).toMatchObject({ services: { egress: "deploy" } });
  });

  it("reports a completed deployment on its commit", async () => {
    const { commit, summary } = await firstRollout();
    const deploymentId = (summary as { deployments: Array<{ deploymentId: string }> }).deployments[0]!.deploymentId;
    expect(await watch(await deploymentEvent("completed", deploymentId), context)).toMatchObject({ kind: "completed", commit });
    expect(repo.comments.at(-1)!.content).toContain("completed");
  });
});

describe("a commit restoring what ECS rolled back to", () => {
  it("is no change for that service: it already runs it", async () => {
    await firstRollout();
    const change = repo.commit("main", { "allowlists/egress.txt": "api.example.com\nbroken.example.com\n" });
    const accepted = await rollout(await pushEvent(change), context) as { deployments: Array<{ service: string; deploymentId: string }> };
    await watch(await deploymentEvent("failed", accepted.deployments[0]!.deploymentId), context);
    const revert = repo.commit("main", { "allowlists/egress.txt": "api.example.com\n" });
    expect(await rollout(await pushEvent(revert), context)).toMatchObject({ services: { egress: "unchanged", router: "unchanged" } });
  });
});
