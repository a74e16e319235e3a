// Two IPsec sites for tunnel tests: site "a" at 10.99.0.1 protecting 10.98.1.0/24, site "b" at 10.99.0.2
// protecting 10.98.2.0/24, each a network namespace with one host of its protected network on its loopback.
import { link, type NetworkNamespace } from "../../containers/agent/netns.ts";

export type Site = "a" | "b";

export interface SiteOptions {
  /** The side that starts the tunnel (startAction start); the other waits for it. */
  readonly initiator: Site;
  /** The connection's name (default to-<peer>). */
  readonly connection?: string;
  /** The SSM parameter holding the key (the tests' resolvers answer for any name). */
  readonly pskParameter?: string;
  /** The ike: and esp: proposals, as YAML flow mappings. */
  readonly ike?: string;
  readonly esp?: string;
  /** More lines of the connection, e.g. "dpdDelay: 1s". */
  readonly extra?: readonly string[];
}

const address = (site: Site) => (site === "a" ? 1 : 2);

/** fleet.yaml for one side's strongSwan service (vpn-<site>), the other side its peer. */
export function siteFleet(self: Site, options: SiteOptions): string {
  const peer: Site = self === "a" ? "b" : "a";
  const lines = [
    `psk: { ssmParameter: ${options.pskParameter ?? "/proxy-fleet/test/psk"} }`,
    `local: { id: ${self}.vpn.test, subnets: [10.98.${address(self)}.0/24] }`,
    `remote: { address: 10.99.0.${address(peer)}, id: ${peer}.vpn.test, subnets: [10.98.${address(peer)}.0/24] }`,
    `ike: ${options.ike ?? "{ encryption: [aes256gcm16], integrity: [sha256], dhGroups: [ecp256] }"}`,
    `esp: ${options.esp ?? "{ encryption: [aes256gcm16], dhGroups: [ecp256] }"}`,
    "forceUdpEncapsulation: true",
    `startAction: ${self === options.initiator ? "start" : "none"}`,
    ...(options.extra ?? []),
  ];
  return `version: 1
services:
  vpn-${self}:
    kind: strongswan
    connections:
      - name: ${options.connection ?? `to-${peer}`}
${lines.map((line) => `        ${line}`).join("\n")}
`;
}

/** Joins the two sites' namespaces by a veth pair (10.99.0.0/24) and gives each its protected host address. */
export async function linkSites(a: NetworkNamespace, b: NetworkNamespace): Promise<void> {
  await link(a, "10.99.0.1/24", b, "10.99.0.2/24");
  for (const [ns, site] of [[a, "a"], [b, "b"]] as const) await ns.ip(["addr", "add", `10.98.${address(site)}.1/32`, "dev", "lo"]);
}
