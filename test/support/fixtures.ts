// Valid fleets used across tests: the example repository and small per-kind fixtures.
import { resolve } from "node:path";
import { loadFleet, type FleetModel, type ServiceModel, type ServiceModelOf } from "../../functions/fleet/load.ts";
import { DirectoryTree, MemoryTree } from "../../functions/fleet/tree.ts";

export const EXAMPLES_DIR = resolve(import.meta.dirname, "../../examples");

export async function loadOrThrow(files: Record<string, string>): Promise<FleetModel> {
  const result = await loadFleet(new MemoryTree(files));
  if (!result.ok) throw new Error(result.errors.map((e) => `${e.file}:${e.line} ${e.rule} ${e.message}`).join("\n"));
  return result.model;
}

export async function loadExample(): Promise<FleetModel> {
  const result = await loadFleet(new DirectoryTree(EXAMPLES_DIR));
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.model;
}

export function service<K extends ServiceModel["kind"]>(model: FleetModel, name: string, kind: K): ServiceModelOf<K> {
  const found = model.services.find((s) => s.name === name);
  if (!found || found.kind !== kind) throw new Error(`no ${kind} service ${name}`);
  return found as ServiceModelOf<K>;
}

/** Extra fixtures beyond the example: edge shapes every renderer must still get right. */
export const FIXTURES: Record<string, Record<string, string>> = {
  "ipv6-and-many": {
    "fleet.yaml": `version: 1
services:
  many:
    kind: haproxy
    listeners:
${Array.from({ length: 40 }, (_, i) => `      - { name: l${i}, port: ${20000 + i}, backends: [{ host: "2001:db8::${i + 1}", port: 443 }, { host: 10.9.0.${i + 1}, port: 443 }], allowedSources: ["10.${i}.0.0/16", "2001:db8:${i}::/48"] }`).join("\n")}
  ingress:
    kind: nginx
    resolver: { addresses: ["127.0.0.1", "::1"], valid: 10s, ipv6: true }
    tls:
      - port: 8443
        routes:
          - { match: "*.svc.example.com", upstream: { host: "2001:db8::10", port: 443 } }
          - { match: exact.example.com, upstream: { host: 10.0.0.1, port: 443 } }
        default: { host: fallback.example.com, port: 443 }
  egress:
    kind: squid
    allowlist: lists/a.txt
    allowedSources: [10.0.0.0/8, "fd00::/8"]
    connectPorts: [443, 8443-8450]
    dnsNameservers: [127.0.0.1]
  portforward:
    kind: strongswan
    noIpsec: true
    defaultForward: accept
    rules:
      - name: many-ports
        from: [10.0.0.0/8]
        to: [192.0.2.1, 192.0.2.2]
        protocols: [tcp, udp]
        ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15-20, 21, 22, 23-30]
      - name: fwd
        from: [0.0.0.0/0]
        to: [backend.example.com]
        protocols: [tcp, udp]
        ports: [53]
        portForward: { "53": 5353 }
        masquerade: true
`,
    "lists/a.txt": "example.com\n.example.org\n",
  },
};

/** Addresses the fixtures' hostnames resolve to when a test supplies DNS answers. */
export const FIXTURE_TARGETS = {
  "backend.example.com": ["192.0.2.50", "192.0.2.51", "192.0.2.52"],
  "billing.corp.example.com": ["192.168.20.40"],
  "sftp.internal.example.com": ["192.168.20.41"],
  "files.partner.example.net": ["198.51.100.90"],
  "db1.corp.example.com": ["10.50.0.11", "10.50.0.12"],
  "api-0a1b2c3d.7d67968.vpc-lattice-svcs.us-east-1.on.aws": ["169.254.171.1", "169.254.171.2"],
  "www-0c1d2e3f.7d67968.vpc-lattice-svcs.us-east-1.on.aws": ["169.254.171.3"],
  "fallback.example.com": ["10.0.9.9", "2001:db8::99"],
};
