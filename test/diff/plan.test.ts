// `fleet plan --loop config-rollout` against the deployed state prints, after each service's action, the same
// diff `fleet diff` shows: the tracked branch's head against the accepted config in the config bucket.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACCEPTED_KEY } from "../../functions/aws/config-bucket.ts";
import { main } from "../../functions/cli/fleet.ts";
import { FakeAws } from "../support/fake-aws.ts";
import { FakeRepository } from "../support/fake-repo.ts";

const FLEET = `version: 1
services:
  router:
    kind: haproxy
    listeners: [{ name: pg, port: 5432, backends: [{ host: db1.corp.example.com, port: 5432 }] }]
`;

let aws: FakeAws;
let repo: FakeRepository;
beforeEach(() => {
  aws = new FakeAws();
  repo = new FakeRepository("proxy-fleet-config");
  Object.assign(process.env, {
    CONFIG_REPOSITORY: "proxy-fleet-config", CONFIG_BRANCH: "main", CONFIG_BUCKET: "config", STATE_TABLE: "state",
    ECS_SERVICES: JSON.stringify({ router: { cluster: "proxy-fleet", service: "router", container: "proxy" } }),
    AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
  });
});
afterEach(() => {
  aws.restore();
  repo.restore();
});

describe("fleet plan --loop config-rollout (deployed state)", () => {
  it("prints each service's action, then the diff of its rendered files against the accepted config", async () => {
    const accepted = repo.commit("main", { "fleet.yaml": FLEET });
    aws.objects.set(ACCEPTED_KEY, { body: JSON.stringify({ commit: accepted, files: { "fleet.yaml": FLEET } }), metadata: {} });
    const head = repo.commit("main", { "fleet.yaml": FLEET.replace("db1.corp", "db2.corp") });
    let out = "";

    expect(await main(["plan", "--loop", "config-rollout"], { out: (t) => void (out += t), err: () => undefined })).toBe(0);

    expect(out).toContain(`config-rollout plan for ${head}\n`);
    expect(out).toMatch(/^ {2}router +deploy +sha256:[0-9a-f]{64}$/m);
    expect(out).toContain("\ndiff against the deployed config:\nrouter (haproxy): changed, ");
    expect(out).toContain("-    server db1.corp.example.com_5432 db1.corp.example.com:5432 check init-addr none\n");
    expect(out).toContain("+    server db2.corp.example.com_5432 db2.corp.example.com:5432 check init-addr none\n");
    expect(out).toContain("new DNS names: db2.corp.example.com\n");
  });
});
