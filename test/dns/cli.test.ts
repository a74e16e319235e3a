// `fleet plan --loop dns-sync` and `fleet invoke dns-sync` as a user runs them (no AWS: the SDK clients
// are answered in-process, DNS is a server on loopback).
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../functions/cli/fleet.ts";
import { formatDnsPlan } from "../../functions/cli/loops.ts";
import type { RecordReport } from "../../functions/dns/sync.ts";
import { startDnsServer, type TestDnsServer } from "../support/dns-server.ts";
import { FakeAws } from "../support/fake-aws.ts";
import { writeTree } from "../support/tree.ts";

const ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/db/0123456789abcdef";
let server: TestDnsServer;
let aws: FakeAws | undefined;
beforeAll(async () => {
  server = await startDnsServer();
  server.set("db.corp.test", { addresses: ["10.9.0.1", "203.0.113.5"] });
});
afterAll(async () => server?.close());
afterEach(() => aws?.restore());

const fleetYaml = () => `version: 1
dns: { resolvers: ["${server.address}"], timeout: 300ms }
targetGroups:
  db: { arn: "${ARN}", port: 5432, targets: [db.corp.test, 10.9.0.2] }
services:
  router:
    kind: haproxy
    listeners: [{ name: pg, port: 5432, backends: [{ host: db.corp.test, port: 5432 }] }]
`;

function capture() {
  const io = { stdout: "", stderr: "", out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

describe("fleet plan --loop dns-sync --repo", () => {
  it("prints what a first run would do and writes nothing", async () => {
    const repo = await mkdtemp(join(tmpdir(), "pf-plan-"));
    await writeTree(repo, { "fleet.yaml": fleetYaml() });
    const io = capture();
    expect(await main(["plan", "--loop", "dns-sync", "--repo", repo], io)).toBe(0);
    expect(io.stdout).toContain("db.corp.test/A");
    // Per name: who answered (no hosted zone is watched here: the resolver), the answer, and the change.
    expect(io.stdout).toMatch(/db\.corp\.test\/A\s+resolver\s+answer 10\.9\.0\.1 203\.0\.113\.5\s+\+10\.9\.0\.1 \+203\.0\.113\.5/);
    expect(io.stdout).toContain("  router sha256:");
    expect(io.stdout).toContain("    register    10.9.0.1:5432\n    register    10.9.0.2:5432\n");
    expect(io.stdout).toMatch(/ {2}db \(arn:[^)]+\) {2}\[desired targets changed\]\n/);
    expect(io.stdout).toContain("    skip        203.0.113.5: db.corp.test resolved to a public address; NLB IP targets must be private");
  });
});

describe("the dns-sync plan's lookups", () => {
  it("names, per record, the hosted zone or the resolver (and why) that answered, and the answer", () => {
    const looked = (record: string, extra: Partial<RecordReport> & Pick<RecordReport, "source">): RecordReport =>
      ({ record, observation: "answer", added: [], removed: [], held: [], announced: false, failingForMs: 0, answer: [], ...extra });
    const text = formatDnsPlan({
      commit: "c1", documents: [], targetGroups: [], stateConflicts: 0,
      looked: [
        looked("db.corp.example.com/A", { source: "zone", zone: "Z0EXAMPLE1ABCDEF", answer: ["10.1.0.1", "10.1.0.2"], added: ["10.1.0.2"] }),
        looked("geo.corp.example.com/A", { source: "resolver", why: "geolocation records", answer: ["10.3.0.1"] }),
        looked("api.example.net/A", { source: "resolver", observation: "failure", failure: "timeout: ETIMEOUT" }),
      ],
    });
    expect(text).toMatch(/db\.corp\.example\.com\/A\s+zone Z0EXAMPLE1ABCDEF\s+answer 10\.1\.0\.1 10\.1\.0\.2 {2}\+10\.1\.0\.2\n/);
    expect(text).toMatch(/geo\.corp\.example\.com\/A\s+resolver \(geolocation records\)\s+answer 10\.3\.0\.1\n/);
    expect(text).toMatch(/api\.example\.net\/A\s+resolver\s+failure \(timeout: ETIMEOUT\), last known good kept\n/);
  });
});

describe("fleet invoke dns-sync --event", () => {
  it("runs the real handler on a sample event from events/ and prints its summary", async () => {
    aws = new FakeAws();
    aws.objects.set("accepted/current.json", { body: JSON.stringify({ commit: "c9", files: { "fleet.yaml": fleetYaml() } }), metadata: {} });
    Object.assign(process.env, {
      CONFIG_BUCKET: "b", STATE_TABLE: "t", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "x",
      POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "ERROR",
    });
    const io = capture();
    const event = resolve(import.meta.dirname, "../../events/scheduled-event.json");
    expect(await main(["invoke", "dns-sync", "--event", event], io)).toBe(0);
    const summary = JSON.parse(io.stdout);
    expect(summary).toMatchObject({ commit: "c9", looked: 1, registered: ["db 10.9.0.1:5432", "db 10.9.0.2:5432"] });
    expect(aws.registered(ARN)).toEqual(["10.9.0.1:5432", "10.9.0.2:5432"]);
  });

  it("refuses an unknown loop", async () => {
    const io = capture();
    expect(await main(["invoke", "nope", "--event", "x.json"], io)).toBe(2);
  });
});
