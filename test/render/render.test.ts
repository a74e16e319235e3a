// Renderers: deterministic output, content hashes that follow content, secrets kept out, and the
// details each daemon depends on.
import { describe, expect, it } from "vitest";
import { renderBundle, renderFleet, hashFiles, canonicalJson } from "../../functions/render/bundle.ts";
import { contextWith } from "../../functions/render/context.ts";
import { renderHaproxy } from "../../functions/render/haproxy.ts";
import { renderIptables } from "../../functions/render/iptables.ts";
import { renderNginx } from "../../functions/render/nginx.ts";
import { renderSquid } from "../../functions/render/squid.ts";
import { espProposals, ikeProposals, renderSwanctl, renderSwanctlSecrets } from "../../functions/render/strongswan.ts";
import { loadExample, loadOrThrow, service } from "../support/fixtures.ts";

describe("bundles", () => {
  it("render byte-identical files and hashes for the same model, whatever the key order of the input", async () => {
    const a = renderFleet(await loadExample());
    const b = renderFleet(await loadExample());
    expect(b).toEqual(a);
    const shuffled = await loadOrThrow({
      "fleet.yaml": "services:\n  e:\n    allowedSources: [10.0.0.0/8]\n    allowlist: l.txt\n    kind: squid\nversion: 1\n",
      "l.txt": "b.example.com\na.example.com\n",
    });
    const ordered = await loadOrThrow({
      "fleet.yaml": "version: 1\nservices:\n  e:\n    kind: squid\n    allowlist: l.txt\n    allowedSources: [10.0.0.0/8]\n",
      "l.txt": "a.example.com\nb.example.com\n",
    });
    expect(renderFleet(shuffled)).toEqual(renderFleet(ordered));
  });

  it("change the hash of only the service whose files changed", async () => {
    const files = (list: string) => ({
      "fleet.yaml": "version: 1\nservices:\n  e:\n    kind: squid\n    allowlist: l.txt\n    allowedSources: [10.0.0.0/8]\n" +
        "  r:\n    kind: haproxy\n    listeners: [{ name: a, port: 80, backends: [{ host: 10.0.0.1, port: 80 }] }]\n",
      "l.txt": list,
    });
    const before = renderFleet(await loadOrThrow(files("a.example.com\n"))).manifest.services;
    const after = renderFleet(await loadOrThrow(files("a.example.com\nb.example.com\n"))).manifest.services;
    expect(after.r!.hash).toBe(before.r!.hash);
    expect(after.e!.hash).not.toBe(before.e!.hash);
  });

  it("hash every byte and every name, length-prefixed", () => {
    const base = hashFiles({ a: "x", b: "y" });
    expect(hashFiles({ b: "y", a: "x" })).toBe(base);
    expect(hashFiles({ a: "x", b: "y " })).not.toBe(base);
    expect(hashFiles({ a: "x", c: "y" })).not.toBe(base);
    expect(hashFiles({ a: "xb", "": "y" })).not.toBe(hashFiles({ a: "x", b: "y" }));
    expect(base).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("carry the model as canonical JSON so the agent can re-render with live targets", async () => {
    const model = await loadExample();
    const vpn = service(model, "datacenter-vpn", "strongswan");
    const bundle = renderBundle(vpn);
    expect(JSON.parse(bundle.files["service.json"]!)).toEqual(JSON.parse(JSON.stringify(vpn)));
    expect(canonicalJson({ b: 1, a: { d: 1, c: 2 } })).toBe('{\n  "a": {\n    "c": 2,\n    "d": 1\n  },\n  "b": 1\n}\n');
  });

  it("never hold a secret: only its reference", async () => {
    const bundles = renderFleet(await loadExample()).bundles;
    const all = bundles.flatMap((b) => Object.values(b.files)).join("\n");
    expect(all).not.toMatch(/secret\s*=/);
    expect(all).toContain("/proxy-fleet/{stage}/datacenter-vpn/dc1-psk");
  });
});

describe("haproxy", () => {
  const model = () => loadOrThrow({
    "fleet.yaml": `version: 1
services:
  r:
    kind: haproxy
    listeners:
      - name: pg
        port: 5432
        backends: [{ host: db.example.com, port: 5432 }, { host: "2001:db8::1", port: 5432 }]
        balance: leastconn
        timeouts: { connect: 1500ms, client: 3600s, server: 90m }
        healthCheck: { enabled: false }
        allowedSources: [10.0.0.0/8]
`,
  });

  it("keeps an unresolved hostname as a server without an address, so a DNS failure never stops HAProxy", async () => {
    const cfg = renderHaproxy(service(await model(), "r", "haproxy"), contextWith({}))["haproxy.cfg"]!;
    expect(cfg).toContain("    server db.example.com_5432 db.example.com:5432 init-addr none\n");
    expect(cfg).toContain("    server 2001:db8::1_5432 [2001:db8::1]:5432\n");
  });

  it("expands a resolved hostname into one server per address, sorted", async () => {
    const cfg = renderHaproxy(service(await model(), "r", "haproxy"),
      contextWith({ targets: { "db.example.com": ["10.0.0.9", "10.0.0.10", "10.0.0.9"] } }))["haproxy.cfg"]!;
    expect(cfg.match(/server db\.example\.com\S* \S+/g)).toEqual([
      "server db.example.com_10.0.0.10_5432 10.0.0.10:5432",
      "server db.example.com_10.0.0.9_5432 10.0.0.9:5432",
    ]);
  });

  it("renders timeouts in whole units, balance, and the source list as a file", async () => {
    const files = renderHaproxy(service(await model(), "r", "haproxy"), contextWith({ bundleDir: "/b" }));
    expect(files["haproxy.cfg"]).toContain("    timeout connect 1500ms\n");
    expect(files["haproxy.cfg"]).toContain("    timeout client 1h\n");
    expect(files["haproxy.cfg"]).toContain("    timeout server 90m\n");
    expect(files["haproxy.cfg"]).toContain("    balance leastconn\n");
    expect(files["haproxy.cfg"]).toContain("    tcp-request connection reject unless { src -f /b/sources-pg.lst }\n");
    expect(files["sources-pg.lst"]).toBe("10.0.0.0/8\n");
  });
});

describe("nginx", () => {
  it("routes SNI through a hostnames map, rejects unmatched names, and checks PROXY sources", async () => {
    const model = await loadExample();
    // Deployed behind the NLB: the stack's subnets are the trusted PROXY senders.
    const conf = renderNginx(service(model, "lattice-ingress", "nginx"), contextWith({ runDir: "/r", proxyProtocolFrom: ["10.0.0.0/24", "10.0.1.0/24"] }))["nginx.conf"]!;
    expect(conf).toContain("load_module /usr/lib/nginx/modules/ngx_stream_module.so;");
    expect(conf).toMatch(/map \$ssl_preread_server_name \$tls_443_upstream \{\n\s+hostnames;\n\s+default unix:\/r\/nginx-no-route.sock;\n\s+api.example.com api-0a1b2c3d/);
    expect(conf).toContain("        listen 443 proxy_protocol;");
    expect(conf).toContain("        set_real_ip_from 10.0.0.0/24;");
    expect(conf).toContain("        set_real_ip_from 10.0.1.0/24;");
    // Deny before allow, and with an allow list everything else is denied.
    expect(conf.indexOf("deny 10.66.0.0/16;")).toBeLessThan(conf.indexOf("allow 10.0.0.0/8;"));
    expect(conf).toContain("        deny all;");
    expect(conf).toContain("resolver 169.254.169.253 valid=30s ipv6=off;");
    expect(conf).toContain("default www-0c1d2e3f.7d67968.vpc-lattice-svcs.us-east-1.on.aws:80;");
  });

  it("writes IPv6 addresses in their RFC 5952 form, which NGINX's own parser takes (it refuses \"0:0:0:0:0:0:0::\")", async () => {
    const example = service(await loadExample(), "lattice-ingress", "nginx");
    const nginx = {
      ...example,
      resolver: { ...example.resolver, addresses: ["0:0:0:0:0:0:0::", "2001:DB8:0:0:1:0:0:1"] },
      tls: example.tls.map((l) => ({ ...l, routes: l.routes.map((r) => ({ ...r, upstream: { ...r.upstream, host: "::0:0:0:0:0" } })) })),
    };
    const conf = renderNginx(nginx, contextWith({ runDir: "/r" }))["nginx.conf"]!;
    expect(conf).toContain("resolver [::] [2001:db8::1:0:0:1] valid=30s ipv6=off;");
    expect(conf).toContain("[::]:443;");
    expect(conf).not.toContain("0:0:0:0");
  });
});

describe("squid", () => {
  it("allows CONNECT to listed domains on listed ports from listed sources, and nothing else", async () => {
    const files = renderSquid(service(await loadExample(), "egress", "squid"), contextWith({ bundleDir: "/b" }));
    const conf = files["squid.conf"]!;
    const access = conf.split("\n").filter((l) => l.startsWith("http_access"));
    expect(access).toEqual([
      // Through PrivateLink by endpoint id alone; from inside the VPC by source address.
      "http_access deny via_endpoint !allowed_endpoints",
      "http_access deny !via_endpoint !allowed_sources",
      "http_access deny CONNECT !connect_ports",
      "http_access allow CONNECT allowed_domains !forbidden_destinations",
      "http_access allow !CONNECT http_ports allowed_domains !forbidden_destinations",
      "http_access deny all",
    ]);
    expect(conf).toContain('acl allowed_domains dstdomain -n "/b/allowlist.txt"');
    expect(conf).toContain("acl connect_ports port 443 8443");
    expect(conf).toContain("cache deny all");
    expect(files["allowlist.txt"]!.split("\n")[0]).toBe(".docker.io");
  });
});

describe("strongswan", () => {
  it("splits AEAD and classic ciphers into separate proposals, with PRFs for AEAD IKE", () => {
    const proposal = { encryption: ["aes256gcm16", "aes128"] as const, integrity: ["sha384", "sha256"] as const, dhGroups: ["ecp384"] as const, lifetime: "1h" };
    expect(ikeProposals(proposal as never)).toBe("aes256gcm16-prfsha384-prfsha256-ecp384,aes128-sha384-sha256-ecp384");
    expect(espProposals(proposal as never)).toBe("aes256gcm16-ecp384,aes128-sha384-sha256-ecp384");
    // IKEv1: one algorithm of each kind per proposal, the rest silently stripped
    // (https://docs.strongswan.org/docs/latest/config/proposals.html), so every combination is a proposal of its own.
    expect(ikeProposals(proposal as never, 1)).toBe("aes256gcm16-prfsha384-ecp384,aes256gcm16-prfsha256-ecp384,aes128-sha384-ecp384,aes128-sha256-ecp384");
    expect(espProposals(proposal as never, 1)).toBe("aes256gcm16-ecp384,aes128-sha384-ecp384,aes128-sha256-ecp384");
  });

  it("gives IKEv1 one child per subnet pair, and includes secrets from the run directory", async () => {
    const vpn = service(await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  v:
    kind: strongswan
    connections:
      - name: old
        ikeVersion: 1
        psk: { ssmParameter: /p }
        local: { subnets: [10.0.0.0/16, 10.1.0.0/16] }
        remote: { address: 192.0.2.1, subnets: [192.168.0.0/24] }
`,
    }), "v", "strongswan");
    const conf = renderSwanctl(vpn, contextWith({ runDir: "/r" }))["swanctl.conf"]!;
    expect(conf.match(/old-\d-\d \{/g)).toEqual(["old-1-1 {", "old-2-1 {"]);
    expect(conf).toContain("include /r/swanctl-secrets/*.conf");
  });

  // swanctl.conf(5), https://docs.strongswan.org/docs/latest/swanctl/swanctlConf.html: remote_addrs takes a
  // comma-separated list of peer addresses.
  it("lists every peer of a connection in remote_addrs, primary first", async () => {
    const vpn = service(await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  v:
    kind: strongswan
    connections:
      - name: dc
        psk: { ssmParameter: /p }
        local: { subnets: [10.0.0.0/16] }
        remote: { addresses: [192.0.2.1, 192.0.2.2], id: gw.example.com, subnets: [192.168.0.0/24] }
`,
    }), "v", "strongswan");
    const conf = renderSwanctl(vpn, contextWith({ runDir: "/r" }))["swanctl.conf"]!;
    expect(conf).toContain("    remote_addrs = 192.0.2.1,192.0.2.2\n");
    expect(vpn.connections[0]!.remote.addresses[0]).toBe("192.0.2.1");
  });

  it("writes pre-shared keys base64-encoded, so no byte of a key can break the file", async () => {
    const vpn = service(await loadExample(), "datacenter-vpn", "strongswan");
    const secrets = renderSwanctlSecrets(vpn, { dc1: Buffer.from('a"}\n#b'), "dc2-legacy": Buffer.from("k") });
    expect(secrets).toContain(`secret = 0s${Buffer.from('a"}\n#b').toString("base64")}`);
    expect(secrets).toContain('id-remote = "dc1-gw.corp.example.com"');
    expect(secrets).toContain('id-remote = "203.0.113.20"');
    expect(() => renderSwanctlSecrets(vpn, { dc1: Buffer.from("k") })).toThrow(/dc2-legacy/);
  });
});

describe("iptables", () => {
  it("expands hostnames from DNS answers, chunks multiport at 15 slots, and spreads DNAT over every address", async () => {
    const model = await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  f:
    kind: strongswan
    noIpsec: true
    rules:
      - name: many
        from: [10.0.0.0/8]
        to: [app.example.com]
        protocols: [tcp]
        ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 100-200]
      - name: fwd
        from: [0.0.0.0/0]
        to: [app.example.com]
        protocols: [udp]
        ports: [53]
        portForward: { "53": 5353 }
        masquerade: true
      - name: later
        from: [10.0.0.0/8]
        to: [unresolved.example.com]
`,
    });
    const rules = renderIptables(service(model, "f", "strongswan"), contextWith({ targets: { "app.example.com": ["192.0.2.2", "192.0.2.1", "2001:db8::1"] } }));
    expect(rules).toContain("-A PF-FORWARD -s 10.0.0.0/8 -d 192.0.2.1/32 -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14 -m comment --comment many -j ACCEPT");
    expect(rules).toContain("-A PF-FORWARD -s 10.0.0.0/8 -d 192.0.2.1/32 -p tcp -m multiport --dports 100:200 -m comment --comment many -j ACCEPT");
    const dnat = rules.split("\n").filter((l) => l.includes("DNAT --to-destination"));
    expect(dnat).toEqual([
      "-A PF-PREROUTING -s 0.0.0.0/0 -p udp -m addrtype --dst-type LOCAL --dport 5353 -m statistic --mode nth --every 2 --packet 0 -m comment --comment fwd -j DNAT --to-destination 192.0.2.1:53",
      "-A PF-PREROUTING -s 0.0.0.0/0 -p udp -m addrtype --dst-type LOCAL --dport 5353 -m comment --comment fwd -j DNAT --to-destination 192.0.2.2:53",
    ]);
    // Masquerade covers only the rule's own protocol and port (udp 53 here, after DNAT), never all traffic to the host.
    expect(rules.split("\n").filter((l) => l.includes("MASQUERADE"))).toEqual([
      "-A PF-POSTROUTING -s 0.0.0.0/0 -d 192.0.2.1/32 -p udp -m multiport --dports 53 -m comment --comment fwd -j MASQUERADE",
      "-A PF-POSTROUTING -s 0.0.0.0/0 -d 192.0.2.2/32 -p udp -m multiport --dports 53 -m comment --comment fwd -j MASQUERADE",
    ]);
    expect(rules).toContain("# later: unresolved.example.com has no IPv4 address yet");
    expect(rules).not.toContain("2001:db8");
    // The default drop closes the filter table: it comes after every accept.
    const filter = rules.slice(rules.indexOf("*filter"), rules.indexOf("*nat")).trimEnd().split("\n");
    expect(filter.slice(-2)).toEqual(["-A PF-FORWARD -j DROP", "COMMIT"]);
  });
});

describe("nginx with DNS answers", () => {
  it("routes resolved names to upstream groups (a change is a hitless reload) and keeps the resolver for the rest", async () => {
    const model = await loadExample();
    const conf = renderNginx(service(model, "lattice-ingress", "nginx"),
      contextWith({ targets: { "api-0a1b2c3d.7d67968.vpc-lattice-svcs.us-east-1.on.aws": ["169.254.171.2", "169.254.171.1"] } }))["nginx.conf"]!;
    expect(conf).toContain("api.example.com up_api_0a1b2c3d_7d67968_vpc_lattice_svcs_us_east_1_on_aws_443;");
    expect(conf).toContain("    upstream up_api_0a1b2c3d_7d67968_vpc_lattice_svcs_us_east_1_on_aws_443 {\n        server 169.254.171.1:443;\n        server 169.254.171.2:443;\n    }");
    expect(conf).toContain(".apps.example.com apps-0e1f2a3b.7d67968.vpc-lattice-svcs.us-east-1.on.aws:443;");
  });
});
