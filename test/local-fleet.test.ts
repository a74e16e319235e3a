// `fleet local --run`: the fleet's HAProxy, NGINX and Squid services on loopback through the in-task agent,
// with stand-in DNS answers.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { main } from "../functions/cli/fleet.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseHosts, startLocalFleet, type RunningService } from "../functions/cli/local.ts";
import { shiftPorts } from "../functions/fleet/listeners.ts";
import { exchange, freePort, namedHttpServer, namedTcpServer, waitForPort, type Upstream } from "./support/net.ts";
import { loadOrThrow } from "./support/fixtures.ts";
import { tempDir } from "./support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let fleet: RunningService[] = [];
const upstreams: Upstream[] = [];
const ports = { pg: 0, web: 0, proxy: 0 };

beforeAll(async () => {
  work = await tempDir("local");
  const db = await namedTcpServer("database");
  const web = await namedHttpServer("website");
  upstreams.push(db, web);
  // The fleet's own ports are free ports minus the offset the local fleet adds.
  const offset = 20000;
  for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  router:
    kind: haproxy
    listeners: [{ name: pg, port: ${ports.pg - offset}, backends: [{ host: db.corp.test, port: ${db.port} }], healthCheck: { enabled: false } }]
  ingress:
    kind: nginx
    resolver: { addresses: [127.0.0.1] }
    http: [{ port: ${ports.web - offset}, routes: [{ match: www.example.test, upstream: { host: web.corp.test, port: ${web.port} } }] }]
  egress:
    kind: squid
    port: ${ports.proxy - offset}
    allowlist: allow.txt
    allowedSources: [127.0.0.0/8]
    dnsNameservers: [127.0.0.1]
`,
    "allow.txt": "example.com\nlocal-service.test\n",
  });
  const hosts = parseHosts("db.corp.test: [127.0.0.1]\nweb.corp.test: [127.0.0.1]\nlocal-service.test: [127.0.0.1]\n", "hosts.yaml");
  fleet = await startLocalFleet(model, work.path, { portOffset: offset, hosts });
  await Promise.all(Object.values(ports).map((p) => waitForPort(p, 20_000)));
}, 60_000);

afterAll(async () => {
  await Promise.all(fleet.map((s) => s.agent.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

describe("the local fleet", () => {
  it("runs every HAProxy, NGINX and Squid service, healthy, on its offset port", () => {
    expect(fleet.map((s) => `${s.service}:${s.ports.join(",")}:${s.agent.health().ok}`).sort()).toEqual([
      `egress:${ports.proxy}:true`, `ingress:${ports.web}:true`, `router:${ports.pg}:true`,
    ]);
  });

  it("routes by the stand-in DNS answers", async () => {
    expect(await exchange(ports.pg, "")).toBe("database\n");
    const body = await new Promise<string>((resolve) => {
      httpRequest({ host: "127.0.0.1", port: ports.web, headers: { Host: "www.example.test" } }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(text));
      }).end();
    });
    expect(body).toBe("website host=www.example.test\n");
    expect(await exchange(ports.proxy, "CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\n", { lingerMs: 300 })).toMatch(/^HTTP\/1.1 403/);
  });
});

// Issue 9.11: Squid resolves names itself, so the stand-in answers must reach it as its hosts_file
// (squid.conf.documented, "hosts_file": names found there are not looked up in DNS). A name the hosts file
// points at loopback is refused as a forbidden destination (403) at once; without the hosts file Squid would ask
// the (absent) nameserver and never answer 403. The .test name cannot resolve anywhere else.
describe("the local Squid", () => {
  it("answers names from the hosts file: an allowlisted name it maps to loopback is refused", async () => {
    const reply = await exchange(ports.proxy, "CONNECT local-service.test:443 HTTP/1.1\r\nHost: local-service.test:443\r\n\r\n", { lingerMs: 300 });
    expect(reply).toMatch(/^HTTP\/1.1 403/);
  });
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
    expect(() => parseHosts("bad_name: [127.0.0.1]\n", "h.yaml")).toThrow(/h.yaml: "bad_name" is not a valid DNS name/);
    expect(() => parseHosts("a.test: [localhost]\n", "h.yaml")).toThrow(/must list IP addresses/);
    expect(parseHosts("A.Test.: [127.0.0.2]\n", "h.yaml")).toEqual({ "a.test": ["127.0.0.2"] });
  });

  it("moves every listen port by the offset", async () => {
    const model = await loadOrThrow({ "fleet.yaml": "version: 1\nservices:\n  r:\n    kind: haproxy\n    listeners: [{ name: a, port: 80, backends: [{ host: 10.0.0.1, port: 80 }] }]\n" });
    const shifted = shiftPorts(model.services[0]!, 10000);
    expect(shifted.kind === "haproxy" && shifted.listeners[0]!.port).toBe(10080);
  });
});
