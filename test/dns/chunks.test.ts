// One run over more records than a chunk holds, on in-memory ports: every record is read, looked up and
// tracked once, the targets of every chunk reach the groups and documents, and a record that holds no
// address (its first lookups failed) adds nothing, not an empty address.
import { describe, expect, it } from "vitest";
import { memoryDnsPorts } from "../../functions/dns/memory.ts";
import type { DnsClient, Observation } from "../../functions/dns/resolve.ts";
import { syncDns } from "../../functions/dns/sync.ts";

const ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/many/0123456789abcdef";
const HOSTS = 230;
const host = (i: number) => `h${i}.corp.test`;
const fleetYaml = `version: 1
targetGroups:
  many: { arn: ${ARN}, port: 443, targets: [${Array.from({ length: HOSTS }, (_, i) => host(i)).join(", ")}, never.corp.test] }
services:
  router:
    kind: haproxy
    listeners: [{ name: a, port: 443, backends: [{ host: ${host(0)}, port: 443 }, { host: ${host(HOSTS - 1)}, port: 443 }, { host: never.corp.test, port: 443 }] }]
`;

describe("a run in chunks", () => {
  it("tracks every record once, and every chunk's addresses reach the group and the document", async () => {
    const asked: string[] = [];
    const dns: DnsClient = {
      async lookup(name): Promise<Observation> {
        asked.push(name);
        if (name === "never.corp.test") return { kind: "failure", reason: "timeout", detail: "ETIMEOUT" };
        const i = Number(/^h(\d+)\./.exec(name)![1]);
        return { kind: "answer", addresses: [`10.1.${i >> 8}.${i & 255}`], ttlSeconds: 60 };
      },
    };
    const ports = memoryDnsPorts({ commit: "c1", files: { "fleet.yaml": fleetYaml } }, () => dns);
    const report = await syncDns({ scope: "due" }, ports, { now: 1_000, chunkSize: 50, concurrency: 4 });
    expect(asked.sort()).toEqual([...Array.from({ length: HOSTS }, (_, i) => host(i)), "never.corp.test"].sort());
    expect(report.looked).toHaveLength(HOSTS + 1);
    // The failing name's state records when it began failing, with no address.
    expect(ports.state.records.get("never.corp.test/A")?.value).toEqual({ addressList: "", failingSince: 1_000 });
    expect(ports.targetGroups.registered.get(ARN)?.size).toBe(HOSTS);
    expect(report.targetGroups[0]!.skipped).toEqual([]);
    const document = JSON.parse(ports.documents.documents.get("router")!.body) as { targets: Record<string, string[]> };
    expect(document.targets).toEqual({ [host(0)]: ["10.1.0.0"], [host(HOSTS - 1)]: ["10.1.0.229"], "never.corp.test": [] });
  });
});
