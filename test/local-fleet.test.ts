// `fleet local` without --run: render and check every service for this machine, with the hosts file standing in
// for DNS. (`fleet local --run`, the control loops, is test/local/e2e.test.ts.)
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { main } from "../functions/cli/fleet.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseHosts } from "../functions/cli/local.ts";
import { shiftPorts } from "../functions/fleet/listeners.ts";
import { parseZone } from "../functions/local/hosts.ts";
import { recordsInFleet } from "../functions/dns/names.ts";
import { EXAMPLES_DIR, loadExample, loadOrThrow } from "./support/fixtures.ts";
import { tempDir } from "./support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  work = await tempDir("local");
});

afterAll(async () => {
  await work?.cleanup();
});

describe("fleet local --hosts", () => {
  it("renders the strongSwan rules' hostnames and Squid's hosts_file from the hosts file, and the daemons accept them", async () => {
    const repo = join(work.path, "repo");
    const out = join(work.path, "checked");
    await mkdir(repo, { recursive: true });
    await writeFile(join(repo, "fleet.yaml"), `version: 1
services:
  gateway:
    kind: strongswan
    noIpsec: true
    rules: [{ name: app, from: [10.97.1.0/24], to: [app.corp.test], protocols: [tcp], ports: [8080] }]
  egress:
    kind: squid
    allowlist: allow.txt
    allowedSources: [10.0.0.0/8]
`);
    await writeFile(join(repo, "allow.txt"), "app.corp.test\n");
    await writeFile(join(repo, "hosts.yaml"), "app.corp.test: [10.97.2.7, 10.97.2.8]\n");
    const output: string[] = [];
    const code = await main(["local", repo, "--work", out, "--hosts", join(repo, "hosts.yaml")], {
      out: (t) => output.push(t), err: (t) => output.push(t),
    });
    expect(output.join("")).not.toMatch(/FAIL/);
    expect(code).toBe(0);
    const rules = await readFile(join(out, "gateway", "iptables.rules"), "utf8");
    expect(rules).toMatch(/-d 10\.97\.2\.7\/32 /);
    expect(rules).toMatch(/-d 10\.97\.2\.8\/32 /);
    const squidConf = await readFile(join(out, "egress", "squid.conf"), "utf8");
    const hostsFile = /^hosts_file (.+)$/m.exec(squidConf)?.[1];
    expect(hostsFile).toBeDefined();
    expect(await readFile(hostsFile!, "utf8")).toBe("10.97.2.7 app.corp.test\n10.97.2.8 app.corp.test\n");
    expect(squidConf).toContain("udp_outgoing_address 127.0.0.1");
  }, 60_000);
});

describe("stand-in DNS answers", () => {
  it("refuses names and addresses that are not", () => {
    expect(() => parseHosts("bad_name: [127.0.0.1]\n", "h.yaml")).toThrow(/^h.yaml:1:1: error\[hosts-name\]: "bad_name" is not a valid DNS name$/);
    expect(() => parseHosts("a.test: [127.0.0.1]\nb.test: [localhost]\n", "h.yaml")).toThrow(/^h.yaml:2:9: error\[hosts-addresses\]: b.test must list IP addresses$/);
    expect(parseHosts("A.Test.: [127.0.0.2]\n", "h.yaml")).toEqual({ "a.test": ["127.0.0.2"] });
  });

  it("takes a TTL per name, and reports every bad entry with its line while keeping the good ones", () => {
    const { zone, errors } = parseZone([
      "a.test: [127.0.0.2, 127.0.0.2, ::1]",
      "b.test: { addresses: [127.0.0.3], ttl: 30 }",
      "c.test: { addresses: [127.0.0.4], ttl: -1 }",
      "d.test: { address: [127.0.0.5] }",
      "e.test: 127.0.0.6",
    ].join("\n") + "\n", "hosts.yaml");
    expect(zone).toEqual({
      "a.test": { addresses: ["127.0.0.2", "::1"], ttlSeconds: 5 },
      "b.test": { addresses: ["127.0.0.3"], ttlSeconds: 30 },
    });
    expect(errors.map((e) => `${e.line}:${e.rule}`)).toEqual(["3:hosts-ttl", "4:hosts-shape", "5:hosts-addresses"]);
    expect(parseZone("a.test: [\n", "h.yaml").errors[0]).toMatchObject({ file: "h.yaml", rule: "yaml-syntax" });
  });

  it("the example's zone answers every name the example's services and target groups look up", async () => {
    const file = join(EXAMPLES_DIR, "local-hosts.yaml");
    const { zone, errors } = parseZone(await readFile(file, "utf8"), file);
    expect(errors).toEqual([]);
    const names = recordsInFleet(await loadExample()).map((r) => r.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !(name in zone))).toEqual([]);
  });

  it("moves every listen port by the offset", async () => {
    const model = await loadOrThrow({ "fleet.yaml": "version: 1\nservices:\n  r:\n    kind: haproxy\n    listeners: [{ name: a, port: 80, backends: [{ host: 10.0.0.1, port: 80 }] }]\n" });
    const shifted = shiftPorts(model.services[0]!, 10000);
    expect(shifted.kind === "haproxy" && shifted.listeners[0]!.port).toBe(10080);
  });
});
