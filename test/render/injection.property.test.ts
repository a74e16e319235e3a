// No string anywhere in the config can add a directive, a line or a block to a rendered file: either the
// schema rejects it, or it lands inside the one token it was meant for.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadFleet } from "../../functions/fleet/load.ts";
import { MemoryTree } from "../../functions/fleet/tree.ts";
import { renderFleet } from "../../functions/render/bundle.ts";
import { contextWith } from "../../functions/render/context.ts";

const MARKER = "injected_directive";

type Config = Record<string, unknown> & { services: Record<string, Record<string, unknown>> };

function baseConfig(): { config: Config; allowlist: string[] } {
  return {
    allowlist: ["example.com", ".example.org"],
    config: {
      version: 1,
      services: {
        router: {
          kind: "haproxy",
          listeners: [{ name: "db", port: 5432, backends: [{ host: "db.example.com", port: 5432 }], allowedSources: ["10.0.0.0/8"], timeouts: { connect: "5s" } }],
        },
        ingress: {
          kind: "nginx",
          resolver: { addresses: ["10.0.0.2"], valid: "30s" },
          proxyProtocol: { trustedCidrs: ["10.0.0.0/16"] },
          access: { allow: ["10.0.0.0/8"], deny: ["10.9.0.0/16"] },
          tls: [{ port: 443, routes: [{ match: "a.example.com", upstream: { host: "a.example.net", port: 443 } }] }],
          http: [{ port: 80, routes: [{ match: "b.example.com", upstream: { host: "10.1.1.1", port: 80 } }] }],
        },
        egress: { kind: "squid", allowlist: "allow.txt", allowedSources: ["10.0.0.0/8"], connectPorts: [443, "8000-8010"], dnsNameservers: ["10.0.0.2"] },
        vpn: {
          kind: "strongswan",
          connections: [{
            name: "dc1",
            psk: { ssmParameter: "/vpn/dc1" },
            local: { id: "vpn.example.com", subnets: ["10.0.0.0/16"] },
            remote: { address: "198.51.100.1", id: "peer@example.com", subnets: ["192.168.0.0/16"] },
            ike: { lifetime: "8h" },
          }, {
            name: "dc2",
            psk: { secretsManager: "vpn/dc2" },
            local: { subnets: ["10.0.0.0/16"] },
            remote: { address: "198.51.100.2", subnets: ["172.16.0.0/16"] },
          }],
          rules: [{ name: "web", from: ["10.0.0.0/16"], to: ["app.example.com", "192.168.1.1"], protocols: ["tcp"], ports: [443, "8000-8100"], portForward: { "443": 8443 }, masquerade: true }],
        },
      },
    },
  };
}

type Setter = (base: ReturnType<typeof baseConfig>, value: string) => void;
const svc = (b: ReturnType<typeof baseConfig>, name: string) => b.config.services[name] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const FIELDS: Record<string, Setter> = {
  "service name": (b, v) => { b.config.services[v] = b.config.services.router!; delete b.config.services.router; },
  "haproxy listener name": (b, v) => { svc(b, "router").listeners[0].name = v; },
  "haproxy backend host": (b, v) => { svc(b, "router").listeners[0].backends[0].host = v; },
  "haproxy allowed source": (b, v) => { svc(b, "router").listeners[0].allowedSources[0] = v; },
  "haproxy timeout": (b, v) => { svc(b, "router").listeners[0].timeouts.connect = v; },
  "nginx route match": (b, v) => { svc(b, "ingress").tls[0].routes[0].match = v; },
  "nginx upstream host": (b, v) => { svc(b, "ingress").http[0].routes[0].upstream.host = v; },
  "nginx resolver address": (b, v) => { svc(b, "ingress").resolver.addresses[0] = v; },
  "nginx resolver validity": (b, v) => { svc(b, "ingress").resolver.valid = v; },
  "nginx trusted CIDR": (b, v) => { svc(b, "ingress").proxyProtocol.trustedCidrs[0] = v; },
  "nginx deny CIDR": (b, v) => { svc(b, "ingress").access.deny[0] = v; },
  "squid allowlist path": (b, v) => { svc(b, "egress").allowlist = v; },
  "squid allowlist entry": (b, v) => { b.allowlist.push(v); },
  "squid connect port range": (b, v) => { svc(b, "egress").connectPorts[1] = v; },
  "squid DNS server": (b, v) => { svc(b, "egress").dnsNameservers[0] = v; },
  "strongswan connection name": (b, v) => { svc(b, "vpn").connections[0].name = v; },
  "strongswan local id": (b, v) => { svc(b, "vpn").connections[0].local.id = v; },
  "strongswan remote id": (b, v) => { svc(b, "vpn").connections[0].remote.id = v; },
  "strongswan remote address": (b, v) => { svc(b, "vpn").connections[1].remote.address = v; },
  "strongswan SSM parameter": (b, v) => { svc(b, "vpn").connections[0].psk.ssmParameter = v; },
  "strongswan secret name": (b, v) => { svc(b, "vpn").connections[1].psk.secretsManager = v; },
  "strongswan subnet": (b, v) => { svc(b, "vpn").connections[0].remote.subnets[0] = v; },
  "strongswan IKE lifetime": (b, v) => { svc(b, "vpn").connections[0].ike.lifetime = v; },
  "strongswan rule name": (b, v) => { svc(b, "vpn").rules[0].name = v; },
  "strongswan rule endpoint": (b, v) => { svc(b, "vpn").rules[0].to[0] = v; },
  "strongswan rule port range": (b, v) => { svc(b, "vpn").rules[0].ports[1] = v; },
};

const SEPARATORS = ["\n", "\r\n", "\r", ";", "{", "}", "\"", "'", "#", " ", "\t", "\\", "\u0000", "\u2028", "$(", "`", ",", "%"];

/** A value that, if pasted raw, would start a new statement holding MARKER. */
const hostile = fc
  .tuple(fc.string({ maxLength: 12 }), fc.constantFrom(...SEPARATORS), fc.constantFrom("", " ", "\n"))
  .map(([prefix, separator, spacing]) => `${prefix}${separator}${spacing}${MARKER} 1`);

/** Anything at all: the loader must answer (accept or reject), never throw. */
const anything = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 }));

async function renderWith(set: Setter, value: string) {
  const base = baseConfig();
  set(base, value);
  const result = await loadFleet(new MemoryTree({ "fleet.yaml": stringify(base.config), "allow.txt": base.allowlist.join("\n") + "\n" }));
  if (!result.ok) return undefined;
  const targets = { "app.example.com": ["192.168.1.20"], "db.example.com": ["10.5.5.5"] };
  return renderFleet(result.model, contextWith({ targets })).bundles.flatMap((b) =>
    Object.entries(b.files).filter(([name]) => name !== "service.json").map(([name, content]) => ({ file: `${b.service}/${name}`, content })));
}

/** Statements of every syntax we render (lines, ";"-ended, braces) never start with the marker. */
function injectedStatements(content: string): string[] {
  return content.split(/[\n;{}]/).map((s) => s.trim()).filter((s) => s.startsWith(MARKER) || s.startsWith(`"${MARKER}`));
}

describe("no config string can inject into a rendered file", () => {
  it("the base config is valid and renders every kind (else every property below would pass vacuously)", async () => {
    const files = await renderWith(() => undefined, "");
    expect(files?.map((f) => f.file).sort()).toEqual([
      "egress/allowlist.txt", "egress/squid.conf", "ingress/nginx.conf", "router/haproxy.cfg", "router/sources-db.lst",
      "vpn/iptables.hooks", "vpn/iptables.rules", "vpn/swanctl.conf",
    ]);
  });

  it("values that pass the schema with spaces stay inside their quotes", async () => {
    const files = await renderWith(FIELDS["strongswan local id"]!, `CN=a b ${MARKER} 1`);
    const swanctl = files?.find((f) => f.file === "vpn/swanctl.conf")?.content ?? "";
    expect(swanctl).toContain(`id = "CN=a b ${MARKER} 1"`);
    expect(injectedStatements(swanctl)).toEqual([]);
  });

  for (const [field, set] of Object.entries(FIELDS)) {
    it(field, async () => {
      await fc.assert(
        fc.asyncProperty(hostile, async (value) => {
          const files = await renderWith(set, value);
          if (!files) return; // rejected by the schema: nothing rendered
          for (const { file, content } of files) {
            expect(injectedStatements(content), `${file} for ${JSON.stringify(value)}`).toEqual([]);
            expect(content, file).not.toMatch(/[\r\u2028]/);
            expect(content.includes("\u0000"), file).toBe(false);
            for (const line of content.split("\n")) expect((line.match(/"/g) ?? []).length % 2, `${file}: ${line}`).toBe(0);
          }
        }),
        { numRuns: 60 },
      );
      await fc.assert(fc.asyncProperty(anything, async (value) => { await renderWith(set, value); }), { numRuns: 40 });
    });
  }

  it("a hostile value is really caught: the statement check sees a raw injection", () => {
    expect(injectedStatements(`server a 1.2.3.4:80\n${MARKER} 1\n`)).toHaveLength(1);
    expect(injectedStatements(`resolver 10.0.0.2; ${MARKER} 1;`)).toHaveLength(1);
  });
});
