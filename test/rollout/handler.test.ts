// The config-rollout and rollout-watch Lambdas through the real SDK clients, answered in-process by a
// CodeCommit repository, an ECS cluster, S3, DynamoDB and EventBridge in memory.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import { CommentContentSizeLimitExceededException, PostCommentForComparedCommitCommand } from "@aws-sdk/client-codecommit";
import { DescribeServicesCommand, RegisterTaskDefinitionCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
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

const ECS_SERVICES = JSON.stringify({
  router: { cluster: "proxy-fleet", service: "router", container: "proxy" },
  egress: { cluster: "proxy-fleet", service: "egress", container: "proxy" },
});

beforeAll(() => {
  Object.assign(process.env, {
    CONFIG_REPOSITORY: REPOSITORY, CONFIG_BRANCH: "main", CONFIG_BUCKET: "config", STATE_TABLE: "state",
    ECS_SERVICES,
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

// CodeCommit API reference, PostCommentForComparedCommit: CommentContentSizeLimitExceededException ("Comments
// are limited to 10,240 characters"), PathDoesNotExistException for a location whose file is not in the commit.
// EventBridge user guide, "Calculating PutEvents event entry size": an entry must be under 256 KB.
describe("CodeCommit's and EventBridge's limits", () => {
  const COMMENT_LIMIT = 10_240;
  const savedHead = () => (aws.items.get(`rollout#${REPOSITORY}#main|state`)?.state as { lastProcessedCommit?: string }).lastProcessedCommit;

  it("500 errors: the summary fits in 10,240 characters with \"…and N more\", state is saved, Config Rejected carries all 500", async () => {
    await firstRollout();
    const lines = Array.from({ length: 500 }, (_, i) => `*.host-${i}.example.com`);
    const bad = repo.commit("main", { "allowlists/egress.txt": lines.join("\n") + "\n" });
    const summary = await rollout(await pushEvent(bad), context) as { outcome: string; errors: string[]; commentFailures?: string[] };
    expect(summary.outcome).toBe("rejected");
    expect(summary.errors).toHaveLength(500);
    expect(summary.commentFailures).toBeUndefined();

    const posted = repo.comments.filter((c) => c.afterCommitId === bad);
    const summaryComment = posted.find((c) => !c.location)!;
    expect(summaryComment.content.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    const shown = summaryComment.content.split("\n").filter((l) => l.startsWith("- `allowlists/egress.txt:")).length;
    expect(shown).toBeGreaterThan(0);
    expect(summaryComment.content).toContain(`…and ${500 - shown} more: the full list is in the Config Rejected event and the rollout log.`);
    // Located comments are capped; each names a line that exists.
    expect(posted.filter((c) => c.location)).toHaveLength(20);

    const event = aws.published.at(-1)!;
    expect(event.detailType).toBe("Config Rejected");
    expect((event.detail as { errors: string[] }).errors).toHaveLength(500);
    expect(savedHead()).toBe(bad);
    // Saved: the same head again is up to date, nothing more is posted.
    repo.client.resetHistory();
    expect(await rollout(await pushEvent(bad), context)).toEqual({ outcome: "up-to-date", commit: bad });
    expect(repo.client).not.toHaveReceivedCommand(PostCommentForComparedCommitCommand);
  });

  it("errors too many for one EventBridge entry: the event carries as many as fit and says how many were left out", async () => {
    await firstRollout();
    // Long names make each error large: 4,000 of them are far beyond 256 KB.
    const label = "a".repeat(60);
    const lines = Array.from({ length: 4000 }, (_, i) => `*.${label}.${label}.h${i}.example.com`);
    const bad = repo.commit("main", { "allowlists/egress.txt": lines.join("\n") + "\n" });
    expect(await rollout(await pushEvent(bad), context)).toMatchObject({ outcome: "rejected" });
    const call = aws.events.commandCalls(PutEventsCommand).at(-1)!;
    const entry = call.args[0].input.Entries![0]!;
    expect(Buffer.byteLength(entry.Detail!) + Buffer.byteLength(entry.Source!) + Buffer.byteLength(entry.DetailType!)).toBeLessThan(256 * 1024);
    const detail = JSON.parse(entry.Detail!) as { errors: string[]; errorsTotal: number; errorsOmitted: number };
    expect(detail.errorsTotal).toBe(4000);
    expect(detail.errors.length + detail.errorsOmitted).toBe(4000);
    expect(detail.errors[0]).toContain("allowlists/egress.txt:1:");
    expect(savedHead()).toBe(bad);
  });

  it("a deleted fleet.yaml is a clear rejection, summarized without a located comment, and the run succeeds", async () => {
    await firstRollout();
    const bad = repo.commit("main", { "fleet.yaml": null });
    const summary = await rollout(await pushEvent(bad), context);
    expect(summary).toEqual({
      outcome: "rejected", commit: bad, errors: ["fleet.yaml:1 missing-file: fleet.yaml was not found at the repository root"],
    });
    const posted = repo.comments.filter((c) => c.afterCommitId === bad);
    expect(posted).toHaveLength(1);
    expect(posted[0]!.location).toBeUndefined();
    expect(posted[0]!.content).toContain("`fleet.yaml:1:1` **missing-file**: fleet.yaml was not found at the repository root");
    expect(aws.published.at(-1)).toMatchObject({ detailType: "Config Rejected", detail: { commit: bad } });
    expect(savedHead()).toBe(bad);
  });

  it("CodeCommit refusing every comment with its own exception: the commit is still accepted, saved and announced", async () => {
    repo.refuseComments = new CommentContentSizeLimitExceededException({
      message: "The comment is too large. Comments are limited to 10,240 characters.", $metadata: { httpStatusCode: 400 },
    });
    const { commit, summary } = await firstRollout();
    expect(summary).toMatchObject({
      outcome: "accepted", commit,
      commentFailures: ["CommentContentSizeLimitExceededException: The comment is too large. Comments are limited to 10,240 characters."],
    });
    expect(repo.comments).toHaveLength(0);
    expect(aws.published.map((e) => e.detailType)).toEqual(["Config Accepted"]);
    expect(savedHead()).toBe(commit);
  });

  it("CodeCommit refusing comments on a rejected commit: Config Rejected is still published and the state saved", async () => {
    await firstRollout();
    repo.refuseComments = new CommentContentSizeLimitExceededException({ message: "The comment is too large.", $metadata: {} });
    const bad = repo.commit("main", { "allowlists/egress.txt": "*\n" });
    const summary = await rollout(await pushEvent(bad), context) as { outcome: string; commentFailures: string[] };
    expect(summary.outcome).toBe("rejected");
    expect(summary.commentFailures).toEqual([
      "CommentContentSizeLimitExceededException: The comment is too large.",
      "CommentContentSizeLimitExceededException on allowlists/egress.txt:1: The comment is too large.",
    ]);
    expect(aws.published.at(-1)).toMatchObject({ detailType: "Config Rejected", detail: { commit: bad } });
    expect(savedHead()).toBe(bad);
  });

  it("80 deployed services: the accepted comment fits in 10,240 characters and ends with \"…and N more\"", async () => {
    const services = Array.from({ length: 80 }, (_, i) => `router-with-a-rather-long-name-${String(i).padStart(3, "0")}`);
    process.env.ECS_SERVICES = JSON.stringify(Object.fromEntries(services.map((s) => [s, { cluster: "proxy-fleet", service: s, container: "proxy" }])));
    try {
      for (const s of services) ecs.addService("proxy-fleet", s, "proxy");
      const fleet = ["version: 1", "services:", ...services.flatMap((s, i) => [
        `  ${s}:`, "    kind: haproxy", `    listeners: [{ name: pg, port: ${5000 + i}, backends: [{ host: 10.1.0.5, port: 5432 }] }]`,
      ])].join("\n") + "\n";
      const commit = repo.commit("main", { "fleet.yaml": fleet });
      const summary = await rollout(await pushEvent(commit), context) as { outcome: string; deployments: unknown[] };
      expect(summary.outcome).toBe("accepted");
      expect(summary.deployments).toHaveLength(80);
      const comment = repo.comments.find((c) => c.afterCommitId === commit)!.content;
      expect(comment.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      const shown = comment.split("\n").filter((l) => l.startsWith("- router-")).length;
      expect(shown).toBeLessThan(80);
      expect(comment).toContain(`…and ${80 - shown} more: every service is in the rollout log, every deployment in the Config Accepted event.`);
      expect((aws.published.at(-1)!.detail as { deployments: unknown[] }).deployments).toHaveLength(80);
    } finally {
      process.env.ECS_SERVICES = ECS_SERVICES;
    }
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

  it("a comment CodeCommit refuses does not lose the pin or the Config Rollout Failed event", async () => {
    await firstRollout();
    const change = repo.commit("main", { "allowlists/egress.txt": "api.example.com\nbroken.example.com\n" });
    const accepted = await rollout(await pushEvent(change), context) as { deployments: Array<{ service: string; deploymentId: string }> };
    const deploymentId = accepted.deployments.find((d) => d.service === "egress")!.deploymentId;
    repo.refuseComments = new CommentContentSizeLimitExceededException({ message: "The comment is too large.", $metadata: {} });
    const outcome = await watch(await deploymentEvent("failed", deploymentId), context);
    expect(outcome).toMatchObject({ kind: "failed", service: "egress", commentFailures: ["CommentContentSizeLimitExceededException: The comment is too large."] });
    expect(aws.published.at(-1)).toMatchObject({ detailType: "Config Rollout Failed", detail: { service: "egress", deploymentId } });
    expect(await watch(await deploymentEvent("failed", deploymentId), context)).toEqual({ kind: "unknown-deployment", deploymentId });
  });

  it("reports a completed deployment on its commit", async () => {
    const { commit, summary } = await firstRollout();
    const deploymentId = (summary as { deployments: Array<{ deploymentId: string }> }).deployments[0]!.deploymentId;
    expect(await watch(await deploymentEvent("completed", deploymentId), context)).toMatchObject({ kind: "completed", commit });
    expect(repo.comments.at(-1)!.content).toContain("completed");
  });
});

describe("the accepted snapshot after a failed deployment", () => {
  const current = () => JSON.parse(aws.objects.get("accepted/current.json")!.body) as {
    commit: string; files: Record<string, string>; pinned?: Record<string, { commit: string; files: Record<string, string> } | null>;
  };

  it("says the rolled-back service runs its last good config, keeps saying it while the failed version is skipped, and stops once fixed", async () => {
    const { commit: good } = await firstRollout();
    const goodFiles = current().files;
    const broken = repo.commit("main", { "fleet.yaml": FLEET.replace("host: 10.1.0.5", "host: db-new.corp.test") });
    const accepted = await rollout(await pushEvent(broken), context) as { deployments: Array<{ service: string; deploymentId: string }> };
    expect(current()).toMatchObject({ commit: broken });
    expect(current().pinned).toBeUndefined();

    await watch(await deploymentEvent("failed", accepted.deployments.find((d) => d.service === "router")!.deploymentId), context);
    expect(current()).toMatchObject({ commit: broken, pinned: { router: { commit: good, files: goodFiles } } });

    // A later commit that leaves router's failed version as it is: router is skipped and still pinned.
    const later = repo.commit("main", { "allowlists/egress.txt": "api.example.com\nmore.example.com\n" });
    expect(await rollout(await pushEvent(later), context)).toMatchObject({ services: { router: "skip-failed", egress: "deploy" } });
    expect(current()).toMatchObject({ commit: later, pinned: { router: { commit: good, files: goodFiles } } });

    // The fix rolls out: nothing is pinned any more.
    const fix = repo.commit("main", { "fleet.yaml": FLEET.replace("host: 10.1.0.5", "host: db-fixed.corp.test") });
    expect(await rollout(await pushEvent(fix), context)).toMatchObject({ services: { router: "deploy" } });
    expect(current().pinned).toBeUndefined();
  });

  it("a service whose first deployment failed runs no config of the fleet: pinned to nothing", async () => {
    const { summary } = await firstRollout();
    const deploymentId = (summary as { deployments: Array<{ service: string; deploymentId: string }> }).deployments.find((d) => d.service === "egress")!.deploymentId;
    await watch(await deploymentEvent("failed", deploymentId), context);
    expect(current().pinned).toEqual({ egress: null });
  });

  it("a snapshot accepted while the watch works is pinned in turn, never overwritten", async () => {
    await firstRollout();
    const broken = repo.commit("main", { "fleet.yaml": FLEET.replace("host: 10.1.0.5", "host: db-new.corp.test") });
    const accepted = await rollout(await pushEvent(broken), context) as { deployments: Array<{ service: string; deploymentId: string }> };
    // Another writer replaces the current snapshot between the watch's read and its write, once.
    let raced = false;
    aws.s3.on(PutObjectCommand, { Key: "accepted/current.json" }).callsFake((input) => {
      if (!raced) {
        raced = true;
        aws.objects.set("accepted/current.json", { body: JSON.stringify({ commit: "meanwhile", files: { "fleet.yaml": FLEET } }), metadata: {} });
      }
      const object = aws.objects.get(input.Key)!;
      const tag = `"${createHash("md5").update(object.body).digest("hex")}"`;
      if (input.IfMatch !== tag) throw Object.assign(new Error("precondition"), { name: "PreconditionFailed", $fault: "client", $metadata: { httpStatusCode: 412 } });
      aws.objects.set(input.Key, { body: String(input.Body), metadata: {} });
      return {};
    });
    await watch(await deploymentEvent("failed", accepted.deployments.find((d) => d.service === "router")!.deploymentId), context);
    expect(current()).toMatchObject({ commit: "meanwhile", pinned: { router: { commit: expect.any(String) } } });
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

describe("changed services roll out side by side", () => {
  it("every changed service's bundle is stored before any service's revision is read; each is registered and updated once", async () => {
    await firstRollout();
    const bundlePuts = aws.s3.commandCalls(PutObjectCommand).filter((c) => c.args[0].input.Key?.startsWith("bundles/"));
    expect(bundlePuts).toHaveLength(2);
    // sinon numbers calls across every mock: the services' first steps went out together.
    const firstDescribe = ecs.client.commandCalls(DescribeServicesCommand)[0]!;
    for (const put of bundlePuts) expect(put.calledBefore(firstDescribe)).toBe(true);
    expect(ecs.client).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 2);
    expect(ecs.client).toHaveReceivedCommandTimes(UpdateServiceCommand, 2);
  });

  it("a service that cannot be rolled out does not stop the others: the run fails naming it, saves and announces nothing, and a retry completes", async () => {
    ecs.services.delete("proxy-fleet/router");
    const commit = repo.commit("main", { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.example.com\n" });
    await expect(rollout(await pushEvent(commit), context)).rejects.toThrow(/ECS service router was not found in cluster proxy-fleet/);
    expect(ecs.client).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: "proxy-fleet", service: "egress" });
    expect(ecs.client).not.toHaveReceivedCommandWith(UpdateServiceCommand, { service: "router" });
    expect(aws.dynamo).not.toHaveReceivedCommand(PutCommand);
    expect(aws.published).toEqual([]);

    ecs.addService("proxy-fleet", "router", "proxy");
    const summary = await rollout(await pushEvent(commit), context);
    expect(summary).toMatchObject({ outcome: "accepted", commit, services: { router: "deploy", egress: "deploy" } });
    expect(aws.published.map((e) => e.detailType)).toEqual(["Config Accepted"]);
  });

  it("several services failing: one error names each of them", async () => {
    ecs.services.clear();
    const commit = repo.commit("main", { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.example.com\n" });
    const failure = rollout(await pushEvent(commit), context);
    await expect(failure).rejects.toThrow(/^2 services were not rolled out: /);
    await expect(failure).rejects.toThrow(/router: ECS service router was not found/);
    await expect(failure).rejects.toThrow(/egress: ECS service egress was not found/);
    expect(ecs.client).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });
});
