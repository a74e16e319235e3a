// The pull-request review Lambda through the real CodeCommit and S3 clients, answered in-process by a
// repository with pull requests (./fake-pull-requests.ts) and an S3 bucket holding the accepted config.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Context } from "aws-lambda";
import {
  GetPullRequestCommand, PostCommentForPullRequestCommand, UpdateCommentCommand, UpdatePullRequestApprovalStateCommand,
} from "@aws-sdk/client-codecommit";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { ACCEPTED_KEY } from "../../functions/aws/config-bucket.ts";
import { main } from "../../functions/cli/fleet.ts";
import { SUMMARY_MARKER } from "../../functions/review/summary.ts";
import { FakeAws } from "../support/fake-aws.ts";
import { COMMENT_LIMIT, FakePullRequests, REVIEWER } from "./fake-pull-requests.ts";

const EVENTS = resolve(import.meta.dirname, "../../events");
const REPOSITORY = "proxy-fleet-config";
type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;
const context = { functionName: "pull-request", awsRequestId: "r", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

const FLEET = `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - name: pg
        port: 5432
        backends: [{ host: db1.corp.example.com, port: 5432 }]
  egress:
    kind: squid
    allowlist: allowlists/egress.txt
    allowedSources: [10.0.0.0/8]
`;

let aws: FakeAws;
let repo: FakePullRequests;
let review: Handler;

beforeAll(() => {
  Object.assign(process.env, {
    CONFIG_REPOSITORY: REPOSITORY, CONFIG_BRANCH: "main", CONFIG_BUCKET: "config",
    AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
    POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR", POWERTOOLS_TRACE_ENABLED: "false",
  });
});

beforeEach(async () => {
  vi.resetModules();
  aws = new FakeAws();
  repo = new FakePullRequests(REPOSITORY);
  review = (await import("../../functions/pull-request.ts")).handler as unknown as Handler;
});

afterEach(() => {
  aws.restore();
  repo.restore();
});

/** main with the fleet, accepted as the rollout loop would record it; returns its commit. */
function acceptedMain(files: Record<string, string> = { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.example.com\n", "README.md": "# config\n" }) {
  const commit = repo.push("main", files);
  const read = Object.fromEntries(Object.entries(files).filter(([path]) => path !== "README.md"));
  aws.objects.set(ACCEPTED_KEY, { body: JSON.stringify({ commit, files: read }), metadata: {} });
  return commit;
}

async function prEvent(sample: string, sourceCommit: string, overrides: Record<string, unknown> = {}) {
  const event = JSON.parse(await readFile(`${EVENTS}/codecommit-pull-request-${sample}.json`, "utf8"));
  Object.assign(event.detail, { pullRequestId: "42", sourceCommit, ...overrides });
  return event;
}

const summaries = () => repo.prComments.filter((c) => c.content.startsWith(SUMMARY_MARKER));
const located = () => repo.prComments.filter((c) => c.location);

describe("a pull request into the tracked branch", () => {
  it("valid change: one summary with what would redeploy, the new DNS name and a readable diff; approved at the current revision", async () => {
    acceptedMain();
    const head = repo.push("db-port", {
      "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n").replace("db1.corp.example.com, port: 5432", "db2.corp.example.com, port: 5432"),
    }, "main");
    repo.open("42", "db-port", "main");

    const result = await review(await prEvent("created", head), context);

    expect(result).toMatchObject({ kind: "valid", approved: true, redeploy: ["router"], newNames: ["db2.corp.example.com"] });
    expect(summaries()).toHaveLength(1);
    const summary = summaries()[0]!.content;
    expect(summary).toContain("✅ valid");
    expect(summary).toContain("**Would redeploy**: router");
    expect(summary).toContain("**New DNS names**: db2.corp.example.com");
    expect(summary).toMatch(/\*\*router \(haproxy\): changed, sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}\*\*/);
    expect(summary).toContain("--- a/router/haproxy.cfg\n+++ b/router/haproxy.cfg\n@@ ");
    expect(summary).toContain("\n-    bind :5432\n+    bind :5433\n");
    expect(summary).not.toContain("egress (squid)"); // unchanged services are only counted
    expect(summary).toContain("2 services: 0 added, 0 removed, 1 changed, 1 unchanged");
    expect(located()).toHaveLength(0);
    expect(repo.approvals).toEqual([{ pullRequestId: "42", revisionId: "42-revision-1", state: "APPROVE" }]);
    // The summary compares the pull request's two commits.
    expect(repo.client).toHaveReceivedCommandWith(PostCommentForPullRequestCommand, {
      pullRequestId: "42", repositoryName: REPOSITORY, beforeCommitId: repo.branches.get("main"), afterCommitId: head,
    });
  });

  it("invalid change: the errors in the summary, a comment at each error's file and line, and the approval revoked", async () => {
    acceptedMain();
    const fleet = FLEET.replace("port: 5432\n", "port: 99999\n");
    const head = repo.push("db-port", { "fleet.yaml": fleet, "allowlists/egress.txt": "api.example.com\n*.example.org\n" }, "main");
    repo.open("42", "db-port", "main");

    const result = await review(await prEvent("created", head), context);

    expect(result).toMatchObject({ kind: "rejected", approved: false });
    const summary = summaries()[0]!.content;
    expect(summary).toMatch(/❌ 2 errors/);
    expect(summary).toContain("`allowlists/egress.txt:2:1` **allowlist-wildcard**");
    expect(summary).toMatch(/`fleet\.yaml:7:\d+` \*\*/);
    expect(located().map((c) => `${c.location!.filePath}:${c.location!.filePosition}`).sort()).toEqual(["allowlists/egress.txt:2", "fleet.yaml:7"]);
    expect(located().every((c) => c.afterCommitId === head)).toBe(true);
    expect(repo.approvals).toEqual([{ pullRequestId: "42", revisionId: "42-revision-1", state: "REVOKE" }]);
  });

  it("an error in a file the source commit does not hold (fleet.yaml deleted) is in the summary only", async () => {
    acceptedMain();
    const head = repo.push("drop", { "fleet.yaml": null }, "main");
    repo.open("42", "drop", "main");

    expect(await review(await prEvent("created", head), context)).toMatchObject({ kind: "rejected", located: 0, commentFailures: [] });
    expect(summaries()[0]!.content).toContain("`fleet.yaml:1:1` **missing-file**");
    expect(located()).toHaveLength(0);
    expect(repo.approvals.map((a) => a.state)).toEqual(["REVOKE"]);
  });

  it("a located comment CodeCommit refuses is reported; the summary and the revoked approval still happen", async () => {
    acceptedMain();
    const head = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 99999\n") }, "main");
    repo.open("42", "db-port", "main");
    repo.client.on(PostCommentForPullRequestCommand, { location: { filePath: "fleet.yaml", filePosition: 7, relativeFileVersion: "AFTER" } })
      .rejects(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));

    const result = await review(await prEvent("created", head), context);

    expect(result).toMatchObject({ kind: "rejected", located: 0, commentFailures: ["ThrottlingException on fleet.yaml:7: Rate exceeded"] });
    expect(summaries()).toHaveLength(1);
    expect(repo.approvals.map((a) => a.state)).toEqual(["REVOKE"]);
  });

  it("a change to files the config does not read: \"no config change\", approved, no diff", async () => {
    acceptedMain();
    const head = repo.push("docs", { "README.md": "# config\n\nHow to add a listener.\n", "docs/listeners.md": "…\n" }, "main");
    repo.open("42", "docs", "main");

    const result = await review(await prEvent("created", head), context);

    expect(result).toMatchObject({ kind: "no-config-change", approved: true });
    expect(summaries()[0]!.content).toContain("✅ no config change");
    expect(summaries()[0]!.content).toContain("README.md, docs/listeners.md");
    expect(repo.approvals.map((a) => a.state)).toEqual(["APPROVE"]);
  });

  it("only what the branch changed counts: a config change on main since the branch forked does not make a docs change a config change", async () => {
    acceptedMain();
    repo.push("docs", {}, "main"); // the branch forks here
    repo.push("main", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n") });
    const head = repo.push("docs", { "README.md": "# config\n\nHow to add a listener.\n" });
    repo.open("42", "docs", "main");

    expect(await review(await prEvent("created", head), context)).toMatchObject({ kind: "no-config-change", approved: true });
  });

  it("a valid change's warnings are in the summary: they do not block the merge, a reviewer should see them", async () => {
    acceptedMain();
    const head = repo.push("s3", { "allowlists/egress.txt": "api.example.com\n.s3.amazonaws.com\n" }, "main");
    repo.open("42", "s3", "main");

    expect(await review(await prEvent("created", head), context)).toMatchObject({ kind: "valid", approved: true });
    expect(summaries()[0]!.content).toMatch(/- \*\*Warnings\*\*: 1\n {2}- `allowlists\/egress\.txt:2:1` \*\*allowlist-storage\*\*: "\.s3\.amazonaws\.com" allows every/);
  });

  it("with nothing accepted yet, compares with the destination branch's commit", async () => {
    const main = repo.push("main", { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.example.com\n" });
    const head = repo.push("db-port", { "allowlists/egress.txt": "api.example.com\nregistry.npmjs.org\n" }, "main");
    repo.open("42", "db-port", "main");

    expect(await review(await prEvent("created", head), context)).toMatchObject({ kind: "valid", redeploy: ["egress"] });
    const summary = summaries()[0]!.content;
    expect(summary).toContain(`against main at ${main.slice(0, 12)}`);
    expect(summary).toContain("allowlist.txt: changed, 1 name added, 0 removed (2 entries now)\n+ registry.npmjs.org\n");
  });

  it("re-runs replace the earlier summary (UpdateComment) instead of adding one, and follow the newest push", async () => {
    acceptedMain();
    const first = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 99999\n") }, "main");
    repo.open("42", "db-port", "main");
    await review(await prEvent("created", first), context);
    expect(summaries()[0]!.content).toContain("❌ 1 error");

    const fixed = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n") });
    const result = await review(await prEvent("source-branch-updated", fixed), context);

    expect(result).toMatchObject({ kind: "valid", summary: "replaced" });
    expect(summaries()).toHaveLength(1);
    expect(summaries()[0]!.edits).toBe(1);
    expect(summaries()[0]!.content).toContain("✅ valid");
    expect(repo.approvals.map((a) => `${a.state}@${a.revisionId}`)).toEqual(["REVOKE@42-revision-1", "APPROVE@42-revision-2"]);

    // The same event again (EventBridge delivers at least once): nothing new is posted.
    await review(await prEvent("source-branch-updated", fixed), context);
    expect(repo.client).toHaveReceivedCommandTimes(PostCommentForPullRequestCommand, 2); // first summary + one located comment
  });

  it("a summary-looking comment someone else wrote is left alone (only authors may edit): the review posts its own", async () => {
    acceptedMain();
    const head = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n") }, "main");
    repo.open("42", "db-port", "main");
    repo.commentAs("arn:aws:sts::123456789012:assumed-role/NetworkAdmin/jane", `${SUMMARY_MARKER}: ✅ valid (pasted by hand)`);

    expect(await review(await prEvent("created", head), context)).toMatchObject({ summary: "posted" });
    expect(summaries().map((c) => c.authorArn)).toEqual(["arn:aws:sts::123456789012:assumed-role/NetworkAdmin/jane", REVIEWER]);
    expect(summaries()[0]!.content).toContain("pasted by hand");
  });

  it("a source branch updated twice quickly: the event for the older head exits without posting or approving", async () => {
    acceptedMain();
    const older = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n") }, "main");
    repo.open("42", "db-port", "main");
    const newer = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5434\n") });

    // EventBridge delivers the two events in either order.
    const late = await review(await prEvent("source-branch-updated", older), context);
    expect(late).toMatchObject({ kind: "superseded", eventCommit: older, currentCommit: newer });
    expect(repo.client).toHaveReceivedCommandTimes(PostCommentForPullRequestCommand, 0);
    expect(repo.client).toHaveReceivedCommandTimes(UpdatePullRequestApprovalStateCommand, 0);

    await review(await prEvent("source-branch-updated", newer), context);
    expect(summaries()).toHaveLength(1);
    expect(summaries()[0]!.content).toContain(`Reviewed ${newer.slice(0, 12)}`);
    expect(summaries()[0]!.content).toContain("+    bind :5434");
    expect(repo.approvals).toEqual([{ pullRequestId: "42", revisionId: "42-revision-2", state: "APPROVE" }]);
  });

  it("a reopened pull request is reviewed again", async () => {
    acceptedMain();
    const head = repo.push("db-port", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n") }, "main");
    repo.open("42", "db-port", "main");
    expect(await review(await prEvent("reopened", head), context)).toMatchObject({ kind: "valid", approved: true });
  });

  it("a diff larger than a comment: the summary stays within 10,240 characters and says what it left out", async () => {
    const services = (port: number) => ["version: 1", "services:", ...Array.from({ length: 80 }, (_, i) => [
      `  router-${String(i).padStart(2, "0")}:`, "    kind: haproxy", "    listeners:",
      ...Array.from({ length: 5 }, (_, l) => `      - { name: l${l}, port: ${port + l}, backends: [{ host: db${l}.corp.example.com, port: ${port + l} }] }`),
    ].join("\n"))].join("\n") + "\n";
    acceptedMain({ "fleet.yaml": services(5000) });
    const head = repo.push("renumber", { "fleet.yaml": services(6000) }, "main");
    repo.open("42", "renumber", "main");

    const result = await review(await prEvent("created", head), context);

    expect(result).toMatchObject({ kind: "valid" });
    const summary = summaries()[0]!.content;
    expect(summary.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(summary).toContain("**Would redeploy**: router-00, router-01");
    expect(summary).toMatch(/…and \d+ more services: `fleet diff <clone> main\.\.[0-9a-f]{12}` shows the whole diff\.$/);
    expect(summary).toContain("+    bind :6000");
  });
});

describe("events the review ignores", () => {
  it("a pull request into another branch: no CodeCommit or S3 call at all", async () => {
    const result = await review(JSON.parse(await readFile(`${EVENTS}/codecommit-pull-request-into-release-branch.json`, "utf8")), context);
    expect(result).toEqual({ ignored: "the pull request goes into refs/heads/release, not the tracked branch main" });
    expect(repo.client.calls()).toHaveLength(0);
    expect(aws.s3.calls()).toHaveLength(0);
  });

  it("a closed pull request's status change is not reviewed", async () => {
    const result = await review(await prEvent("reopened", "abc", { pullRequestStatus: "Closed" }), context);
    expect(result).toEqual({ ignored: "the pull request is Closed" });
    expect(repo.client).toHaveReceivedCommandTimes(GetPullRequestCommand, 0);
    expect(repo.client).toHaveReceivedCommandTimes(UpdateCommentCommand, 0);
  });

  it("fleet invoke pull-request runs the handler on a sample event from events/", async () => {
    let out = "";
    const code = await main(["invoke", "pull-request", "--event", `${EVENTS}/codecommit-pull-request-into-release-branch.json`], { out: (t) => void (out += t), err: () => undefined });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ ignored: "the pull request goes into refs/heads/release, not the tracked branch main" });
  });
});
