// Behind the NLB (PROXY_FLEET_PROXY_PROTOCOL_FROM set, here 127.0.0.1/32 standing in for its subnets) HAProxy
// and NGINX require PROXY protocol v2, take it only from the load balancer and judge the client by the
// address in it. Squid's side is in squid-traffic.test.ts (it needs a namespace for its destinations).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../containers/agent/agent.ts";
import { run, startDaemon, type Daemon } from "../../containers/agent/process.ts";
import { renderBundle, renderFiles } from "../../functions/render/bundle.ts";
import { contextWith, parseProxyProtocolFrom } from "../../functions/render/context.ts";
import { NGINX_STREAM_MODULE } from "../../functions/render/nginx.ts";
import { loadExample, loadOrThrow, service } from "../support/fixtures.ts";
import {
  exchange, freePort, namedHttpServer, namedTcpServer, namedTlsServer, proxyV2Header, tlsThrough, waitForPort, type Upstream,
} from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

const LOAD_BALANCER = "127.0.0.1/32";
const UNTRUSTED_SENDER = "127.0.0.2";

let work: { path: string; cleanup: () => Promise<void> };
const daemons: Daemon[] = [];
const upstreams: Upstream[] = [];
const ports = { restricted: 0, open: 0, tls: 0, http: 0 };

const from = (source: string, port: number) => proxyV2Header(source, 40000, "10.0.0.10", port);

async function renderInto(dir: string, yaml: string, name: string, kind: "haproxy" | "nginx"): Promise<string> {
  const runDir = join(dir, "run");
  await mkdir(runDir, { recursive: true });
  const model = await loadOrThrow({ "fleet.yaml": yaml });
  const files = renderFiles(service(model, name, kind), contextWith({
    bundleDir: dir, runDir, logDir: runDir, listenAddress: "127.0.0.1", proxyProtocolFrom: parseProxyProtocolFrom(LOAD_BALANCER)!,
  }));
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  return runDir;
}

beforeAll(async () => {
  work = await tempDir("pp");
  const [backend, tlsUpstream, web] = await Promise.all([namedTcpServer("backend"), namedTlsServer("tls-upstream"), namedHttpServer("web")]);
  upstreams.push(backend, tlsUpstream, web);
  for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();

  const haproxyDir = join(work.path, "haproxy");
  const haproxyRun = await renderInto(haproxyDir, `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - { name: restricted, port: ${ports.restricted}, backends: [{ host: 127.0.0.1, port: ${backend.port} }], allowedSources: [10.1.0.0/16], healthCheck: { enabled: false } }
      - { name: open, port: ${ports.open}, backends: [{ host: 127.0.0.1, port: ${backend.port} }], healthCheck: { enabled: false } }
`, "router", "haproxy");
  daemons.push(startDaemon("haproxy", ["-W", "-S", join(haproxyRun, "master.sock"), "-f", join(haproxyDir, "haproxy.cfg")]));

  // The config's own trustedCidrs (like the example's) do not cover the load balancer: the deployment's win.
  const nginxDir = join(work.path, "nginx");
  const nginxRun = await renderInto(nginxDir, `version: 1
services:
  ingress:
    kind: nginx
    resolver: { addresses: [127.0.0.1] }
    proxyProtocol: { trustedCidrs: [192.0.2.0/24] }
    access: { allow: [10.1.0.0/16] }
    tls: [{ port: ${ports.tls}, routes: [{ match: a.example.test, upstream: { host: 127.0.0.1, port: ${tlsUpstream.port} } }] }]
    http: [{ port: ${ports.http}, routes: [{ match: web.example.test, upstream: { host: 127.0.0.1, port: ${web.port} } }] }]
`, "ingress", "nginx");
  daemons.push(startDaemon("nginx", ["-p", nginxRun, "-c", join(nginxDir, "nginx.conf"), "-g", "daemon off;"]));
  await Promise.all(Object.values(ports).map((port) => waitForPort(port)));
}, 30_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

// HAProxy 2.6 configuration manual, "accept-proxy": the PROXY addresses are used "everywhere an address is used,
// with the only exception of 'tcp-request connection' rules which will only see the real connection address";
// "tcp-request session" rules run once the header has been read. HAProxy's author on the split: connection rules
// "reject connections not coming from the allowed reverse proxies"; after them "the proxy protocol header has
// already been parsed" (haproxy mailing list, mail-archive.com/haproxy@formilux.org/msg21560.html).
describe("HAProxy behind the load balancer", () => {
  it("judges allowedSources by the client address in the PROXY header", async () => {
    expect(await exchange(ports.restricted, "ping\n", { proxyHeader: from("10.1.2.3", ports.restricted) })).toBe("backend\nping\n");
    expect(await exchange(ports.restricted, "ping\n", { proxyHeader: from("192.168.1.1", ports.restricted) })).toBe("");
  });

  it("passes any client on a listener without allowedSources, the header never reaching the backend", async () => {
    expect(await exchange(ports.open, "ping\n", { proxyHeader: from("192.168.1.1", ports.open) })).toBe("backend\nping\n");
  });

  it("closes a connection without a PROXY header", async () => {
    expect(await exchange(ports.open, "ping\n")).toBe("");
  });

  it("closes a connection whose PROXY header comes from anyone but the load balancer", async () => {
    expect(await exchange(ports.open, "ping\n", { proxyHeader: from("10.1.2.3", ports.open), localAddress: UNTRUSTED_SENDER })).toBe("");
  });
});

// NGINX: ngx_stream_realip_module / ngx_http_realip_module ("set_real_ip_from": trusted addresses that send the
// correct replacement address; "$realip_remote_addr" keeps the original), "listen … proxy_protocol".
describe("NGINX behind the load balancer", () => {
  const get = (source: string, localAddress?: string) =>
    exchange(ports.http, "GET / HTTP/1.1\r\nHost: web.example.test\r\nConnection: close\r\n\r\n", {
      proxyHeader: from(source, ports.http), lingerMs: 1_000, ...(localAddress ? { localAddress } : {}),
    });

  it("takes the client address from the load balancer's header, not from the config's trustedCidrs", async () => {
    expect(await tlsThrough(ports.tls, "a.example.test", from("10.1.2.3", ports.tls))).toBe("tls-upstream sni=a.example.test\n");
    expect(await get("10.1.2.3")).toContain("web host=web.example.test");
  });

  it("denies a client outside the allow list by the header's address", async () => {
    expect(await tlsThrough(ports.tls, "a.example.test", from("192.168.1.1", ports.tls))).toBe("");
    expect(await get("192.168.1.1")).toMatch(/^HTTP\/1.1 403/);
  });

  it("closes a connection without a PROXY header", async () => {
    expect(await tlsThrough(ports.tls, "a.example.test")).toBe("");
  });

  it("closes a connection whose PROXY header comes from anyone but the load balancer", async () => {
    expect(await tlsThrough(ports.tls, "a.example.test", from("10.1.2.3", ports.tls), UNTRUSTED_SENDER)).toBe("");
    expect(await get("10.1.2.3", UNTRUSTED_SENDER)).toBe("");
  });
});

describe("the agent", () => {
  it("renders with the load balancer's subnets it was given (main.ts reads them from PROXY_FLEET_PROXY_PROTOCOL_FROM)", async () => {
    const port = await freePort();
    const model = await loadOrThrow({ "fleet.yaml": `version: 1
services:
  relay:
    kind: haproxy
    listeners: [{ name: relay, port: ${port}, backends: [{ host: 127.0.0.1, port: ${upstreams[0]!.port} }], healthCheck: { enabled: false } }]
` });
    const bundle = renderBundle(service(model, "relay", "haproxy"));
    const dir = join(work.path, "agent");
    const agent = await Agent.start({ fetch: async () => bundle }, {
      bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), logDir: join(dir, "run"), listenAddress: "127.0.0.1",
      proxyProtocolFrom: parseProxyProtocolFrom(LOAD_BALANCER)!,
    });
    try {
      await waitForPort(port);
      expect(await exchange(port, "ping\n", { proxyHeader: from("192.168.1.1", port) })).toBe("backend\nping\n");
      expect(await exchange(port, "ping\n")).toBe("");
    } finally {
      await agent.stop();
    }
  }, 30_000);
});

describe("every example service behind a dual-stack load balancer", () => {
  it("renders configs HAProxy, NGINX and Squid accept", async () => {
    const model = await loadExample();
    const proxyProtocolFrom = parseProxyProtocolFrom("10.0.0.0/24,10.0.1.0/24,fd00:10::/64")!;
    const failures: string[] = [];
    for (const svc of model.services) {
      if (svc.kind === "strongswan") continue;
      const dir = join(work.path, "example", svc.name);
      const runDir = join(dir, "run");
      await mkdir(runDir, { recursive: true });
      const files = renderFiles(svc, contextWith({ bundleDir: dir, runDir, logDir: runDir, proxyProtocolFrom }));
      for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
      const r = svc.kind === "haproxy" ? await run("haproxy", ["-c", "-f", join(dir, "haproxy.cfg")])
        : svc.kind === "nginx" ? await run("nginx", ["-t", "-p", runDir, "-c", join(dir, "nginx.conf")])
          : await run("squid", ["-k", "parse", "-f", join(dir, "squid.conf")]);
      // squid -k parse exits 0 on some errors: its output is the verdict (docs/design.md, data-plane facts).
      if (r.code !== 0 || (svc.kind === "squid" && /ERROR|FATAL/.test(r.stdout + r.stderr))) failures.push(`${svc.name}: ${r.stdout}${r.stderr}`);
    }
    expect(failures).toEqual([]);
  }, 30_000);
});

// Allowlisting PrivateLink consumers by VPC endpoint id needs the PROXY v2 AWS TLV (0xEA) in a rule. Squid 5.7
// has it (%proxy_protocol::>h{234} in an external ACL; see squid-traffic.test.ts). These two Debian 12 daemons
// do not: HAProxy's fc_pp_tlv() sample fetch arrived in 2.9 ("MEDIUM: sample: Add fetch for arbitrary TLVs",
// Aug 2023) and NGINX's $proxy_protocol_tlv_* variables in 1.23.2. When an upgrade makes these checks pass,
// endpoint allowlists can move to HAProxy and NGINX too.
describe("what the installed daemons cannot match on", () => {
  it("HAProxy 2.6 has no fc_pp_tlv() to read the VPC endpoint id", async () => {
    const cfg = join(work.path, "tlv-haproxy.cfg");
    await writeFile(cfg, `defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:${ports.open}\n    tcp-request content reject unless { fc_pp_tlv(0xEA) -m found }\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n`);
    const r = await run("haproxy", ["-c", "-f", cfg]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/fc_pp_tlv/);
  });

  it("NGINX 1.22 has no $proxy_protocol_tlv_* variables", async () => {
    const prefix = join(work.path, "tlv-nginx");
    await mkdir(prefix, { recursive: true });
    const conf = join(prefix, "nginx.conf");
    await writeFile(conf, `load_module ${NGINX_STREAM_MODULE};\npid ${prefix}/nginx.pid;\nerror_log stderr;\nevents {}\nstream {\n    server {\n        listen 127.0.0.1:${ports.tls} proxy_protocol;\n        return $proxy_protocol_tlv_0xea;\n    }\n}\n`);
    const r = await run("nginx", ["-t", "-p", prefix, "-c", conf]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown "proxy_protocol_tlv_0xea" variable/);
  });
});
