// The render context's PROXY protocol senders (PROXY_FLEET_PROXY_PROTOCOL_FROM): parsed strictly, and what each
// renderer makes of them. Traffic through the real daemons is in test/dataplane/proxy-protocol.test.ts.
import { describe, expect, it } from "vitest";
import { renderBundle } from "../../functions/render/bundle.ts";
import { contextWith, parseProxyProtocolFrom } from "../../functions/render/context.ts";
import { renderHaproxy } from "../../functions/render/haproxy.ts";
import { renderNginx } from "../../functions/render/nginx.ts";
import { renderSquid } from "../../functions/render/squid.ts";
import { loadExample, service } from "../support/fixtures.ts";

describe("PROXY_FLEET_PROXY_PROTOCOL_FROM", () => {
  it("is a comma-separated list of CIDRs, canonicalized; unset or blank means no load balancer", () => {
    expect(parseProxyProtocolFrom(" 10.0.0.0/24,10.0.1.0/24 , fd00:1::/64")).toEqual(["10.0.0.0/24", "10.0.1.0/24", "fd00:1::/64"]);
    expect(parseProxyProtocolFrom(undefined)).toBeUndefined();
    expect(parseProxyProtocolFrom("  ")).toBeUndefined();
  });

  it("names the variable and the entry it cannot read", () => {
    expect(() => parseProxyProtocolFrom("10.0.0.0/24,10.0.1.5/24")).toThrow(
      'PROXY_FLEET_PROXY_PROTOCOL_FROM: "10.0.1.5/24" has host bits set (did you mean 10.0.1.0/24?)',
    );
    expect(() => parseProxyProtocolFrom("10.0.0.0/24,,")).toThrow(/PROXY_FLEET_PROXY_PROTOCOL_FROM: ""/);
  });
});

describe("renderers behind the load balancer", () => {
  const nlb = contextWith({ proxyProtocolFrom: ["10.0.0.0/24", "10.0.1.0/24"] });

  it("HAProxy: accept-proxy on every bind, the sender checked per connection, allowedSources per session", async () => {
    const cfg = renderHaproxy(service(await loadExample(), "onprem-router", "haproxy"), nlb)["haproxy.cfg"]!;
    expect(cfg.match(/^ {4}bind .*$/gm)).toEqual(["    bind :5432 accept-proxy", "    bind :636 accept-proxy", "    bind :3270 accept-proxy"]);
    expect(cfg.match(/tcp-request connection reject unless \{ src 10\.0\.0\.0\/24 10\.0\.1\.0\/24 \}/g)).toHaveLength(3);
    expect(cfg).toContain("    tcp-request session reject unless { src -f /etc/proxy-fleet/bundle/sources-postgres.lst }");
    expect(cfg).not.toContain("tcp-request connection reject unless { src -f");
  });

  it("HAProxy without a load balancer keeps plain binds and checks allowedSources per connection", async () => {
    const cfg = renderHaproxy(service(await loadExample(), "onprem-router", "haproxy"), contextWith({}))["haproxy.cfg"]!;
    expect(cfg).not.toContain("accept-proxy");
    expect(cfg).toContain("    tcp-request connection reject unless { src -f /etc/proxy-fleet/bundle/sources-postgres.lst }");
  });

  it("NGINX: proxy_protocol on every listen, only the load balancer trusted, other senders closed", async () => {
    const conf = renderNginx(service(await loadExample(), "lattice-ingress", "nginx"), nlb)["nginx.conf"]!;
    expect(conf.match(/listen \S+ proxy_protocol;/g)).toEqual(["listen 443 proxy_protocol;", "listen 80 proxy_protocol;"]);
    expect(conf.match(/geo \$realip_remote_addr \$pf_untrusted_sender \{\n\s+default 1;\n\s+10\.0\.0\.0\/24 0;\n\s+10\.0\.1\.0\/24 0;\n\s+\}/g)).toHaveLength(2);
    expect(conf).toMatch(/map \$pf_untrusted_sender \$tls_443_target \{\n\s+1 unix:\/run\/proxy-fleet\/nginx-no-route.sock;\n\s+default \$tls_443_upstream;/);
    expect(conf).toContain("proxy_pass $tls_443_target;");
    expect(conf).toMatch(/if \(\$pf_untrusted_sender\) \{\n\s+return 444;/);
  });

  it("NGINX without a load balancer or proxyProtocol setting speaks no PROXY protocol", async () => {
    const conf = renderNginx(service(await loadExample(), "lattice-ingress", "nginx"), contextWith({}))["nginx.conf"]!;
    expect(conf).not.toMatch(/proxy_protocol|set_real_ip_from|pf_untrusted_sender/);
    expect(conf).toContain("proxy_set_header X-Forwarded-For $remote_addr;");
    expect(conf).not.toContain("$proxy_add_x_forwarded_for");
  });

  it("Squid: require-proxy-header, the load balancer the only PROXY sender, endpoint ids through the helper", async () => {
    const files = renderSquid(service(await loadExample(), "egress", "squid"), nlb);
    const conf = files["squid.conf"]!;
    expect(conf).toContain("http_port 3128 require-proxy-header\n");
    expect(conf).toContain("acl proxy_protocol_senders src 10.0.0.0/24 10.0.1.0/24\nproxy_protocol_access allow proxy_protocol_senders\nproxy_protocol_access deny all\n");
    expect(conf).toContain("acl allowed_endpoints external vpce_id vpce-0a1b2c3d4e5f60718 vpce-0123456789abcdef0\n");
    expect(files["vpce-id-helper.sh"]).toMatch(/^#!\/bin\/sh\n/);
  });

  it("the shipped bundle is rendered without a load balancer: the agent adds it where the task runs", async () => {
    const bundle = renderBundle(service(await loadExample(), "egress", "squid"));
    expect(bundle.files["squid.conf"]).not.toContain("require-proxy-header");
  });
});
