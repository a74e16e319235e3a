// NGINX routes TLS by SNI without terminating it, routes HTTP by Host, and allows or denies by the
// client address carried in the NLB's PROXY v2 header.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNginx } from "../../containers/agent/daemons.ts";
import type { Daemon } from "../../containers/agent/process.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith } from "../../functions/render/context.ts";
import { loadOrThrow, service } from "../support/fixtures.ts";
import {
  exchange, forwardedHeadersServer, freePort, namedHttpServer, namedTlsServer, proxyV2Header, tlsThrough, waitForPort, type Upstream,
} from "../support/net.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let nginx: Daemon | undefined;
const upstreams: Upstream[] = [];
let tlsPort: number;
let httpPort: number;

const from = (source: string, port: number) => proxyV2Header(source, 40000, "10.0.0.10", port);

beforeAll(async () => {
  work = await tempDir("nginx");
  const [a, b, fallback, web, headers] = await Promise.all([
    namedTlsServer("upstream-a"), namedTlsServer("upstream-b"), namedTlsServer("upstream-default"), namedHttpServer("web"),
    forwardedHeadersServer(),
  ]);
  upstreams.push(a, b, fallback, web, headers);
  tlsPort = await freePort();
  httpPort = await freePort();
  const model = await loadOrThrow({
    "fleet.yaml": `version: 1
services:
  ingress:
    kind: nginx
    resolver: { addresses: [127.0.0.1] }
    proxyProtocol: { trustedCidrs: [127.0.0.0/8] }
    access: { allow: [10.1.0.0/16, "fd00:1::/64"], deny: [10.1.99.0/24] }
    tls:
      - port: ${tlsPort}
        routes:
          - { match: a.example.test, upstream: { host: 127.0.0.1, port: ${a.port} } }
          - { match: .b.example.test, upstream: { host: 127.0.0.1, port: ${b.port} } }
    http:
      - port: ${httpPort}
        routes:
          - { match: web.example.test, upstream: { host: 127.0.0.1, port: ${web.port} } }
          - { match: headers.example.test, upstream: { host: 127.0.0.1, port: ${headers.port} } }
`,
  });
  const runDir = join(work.path, "run");
  await mkdir(runDir);
  const files = renderFiles(service(model, "ingress", "nginx"),
    contextWith({ bundleDir: work.path, runDir, logDir: runDir, listenAddress: "127.0.0.1" }));
  for (const [name, content] of Object.entries(files)) await writeFile(join(work.path, name), content);
  nginx = startNginx(join(work.path, "nginx.conf"), runDir);
  await waitForPort(tlsPort);
  await waitForPort(httpPort);
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all(upstreams.map((u) => u.close()));
  await work?.cleanup();
});

describe("TLS passthrough by SNI", () => {
  it("routes an exact server name to its upstream, end to end TLS", async () => {
    expect(await tlsThrough(tlsPort, "a.example.test", from("10.1.2.3", tlsPort))).toBe("upstream-a sni=a.example.test\n");
  });

  it("routes a domain and its subdomains for a .suffix route", async () => {
    expect(await tlsThrough(tlsPort, "x.b.example.test", from("10.1.2.3", tlsPort))).toBe("upstream-b sni=x.b.example.test\n");
    expect(await tlsThrough(tlsPort, "b.example.test", from("10.1.2.3", tlsPort))).toBe("upstream-b sni=b.example.test\n");
  });

  it("closes a connection whose SNI matches no route", async () => {
    expect(await tlsThrough(tlsPort, "unknown.example.test", from("10.1.2.3", tlsPort))).toBe("");
  });

  it("denies by the source in the PROXY v2 header: deny list first, then anything outside the allow list", async () => {
    expect(await tlsThrough(tlsPort, "a.example.test", from("10.1.99.5", tlsPort))).toBe("");
    expect(await tlsThrough(tlsPort, "a.example.test", from("192.168.1.1", tlsPort))).toBe("");
  });

  it("refuses a connection without a PROXY header", async () => {
    expect(await tlsThrough(tlsPort, "a.example.test")).toBe("");
  });
});

describe("HTTP routing by Host", () => {
  const get = (host: string, source: string) =>
    exchange(httpPort, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, { proxyHeader: from(source, httpPort), lingerMs: 1_000 });

  it("proxies a request for a routed host, keeping the Host header", async () => {
    const response = await get("web.example.test", "10.1.2.3");
    expect(response).toMatch(/^HTTP\/1.1 200/);
    expect(response).toContain("web host=web.example.test");
  });

  it("answers 421 for a host with no route", async () => {
    expect(await get("other.example.test", "10.1.2.3")).toMatch(/^HTTP\/1.1 421/);
  });

  it("answers 403 to a denied source", async () => {
    expect(await get("web.example.test", "10.1.99.7")).toMatch(/^HTTP\/1.1 403/);
  });

  // Issue 9.7. ngx_http_proxy_module: $proxy_add_x_forwarded_for is "the client request header field
  // X-Forwarded-For with the $remote_addr variable appended to it" — what the client wrote survives; so the
  // headers are set to $remote_addr alone (the address realip took from the trusted PROXY header).
  it("replaces client-sent X-Forwarded-For, X-Real-IP and Forwarded with the address it trusts", async () => {
    const spoofed = "X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n";
    const response = await exchange(httpPort, `GET / HTTP/1.1\r\nHost: headers.example.test\r\n${spoofed}Connection: close\r\n\r\n`, {
      proxyHeader: from("10.1.2.3", httpPort), lingerMs: 1_000,
    });
    expect(response).toMatch(/^HTTP\/1.1 200/);
    expect(response.split("\r\n\r\n")[1]).toBe("forwarded: for=10.1.2.3\nx-forwarded-for: 10.1.2.3\nx-real-ip: 10.1.2.3\n");
  });

  // RFC 7239 section 6: an IPv6 node in Forwarded is bracketed and, with its colons, quoted.
  it("writes an IPv6 client into Forwarded as a quoted, bracketed node", async () => {
    const response = await exchange(httpPort, "GET / HTTP/1.1\r\nHost: headers.example.test\r\nConnection: close\r\n\r\n", {
      proxyHeader: proxyV2Header("fd00:1::7", 40000, "fd00:2::1", httpPort), lingerMs: 1_000,
    });
    expect(response.split("\r\n\r\n")[1]).toBe('forwarded: for="[fd00:1::7]"\nx-forwarded-for: fd00:1::7\nx-real-ip: fd00:1::7\n');
  });
});
