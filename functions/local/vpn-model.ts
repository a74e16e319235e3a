// The local VPN's pure parts: where everything sits (the persistent address, each simulated peer site and the
// hosts the probe runs between), the peer site's own configuration (the mirror of one connection), and a
// connection's tunnel state from charon's list of SAs. No I/O here.
import { parseCidr, ipToBigInt, cidrContains, type Cidr } from "../fleet/net.ts";
import { durationMs } from "../fleet/duration.ts";
import type { ServiceModelOf } from "../fleet/load.ts";
import type { StrongswanConnectionConfig } from "../fleet/schema.ts";
import { childCarriesTraffic, ikeEstablished, parseListSas, type ViciSection } from "../../containers/agent/metrics.ts";
import type { TunnelStatus } from "./status.ts";

type Strongswan = ServiceModelOf<"strongswan">;

/** The documentation network (RFC 5737 TEST-NET-1) the persistent address is taken from. */
const PERSISTENT_NETWORK = "192.0.2.0/24";

export interface PeerSite {
  readonly connection: string;
  /** The peer gateway's address: the connection's (first) remote address. */
  readonly address: string;
  /** A host of the peer's protected network (on the peer's loopback): the probe's source. */
  readonly host: string;
  /**
   * A host in each of the peer's protected networks, `host` first: kernel-libipsec routes a CHILD SA's networks
   * through its TUN device only from a local address inside them, and refuses the CHILD SA without one.
   */
  readonly hosts: readonly string[];
  /** A host of the service's protected network (on the instance's loopback): the probe's destination. */
  readonly target: string;
}

export interface VpnLayout {
  /** The stand-in for the persistent ENI's (and its Elastic IP's) address: the service's side of every tunnel. */
  readonly persistentAddress: string;
  readonly peers: readonly PeerSite[];
  /** A host in each of the service's protected networks, once (the probe's destinations first): on the instance's loopback. */
  readonly targets: readonly string[];
}

/** The first usable host of an IPv4 network (the address itself for /31 and /32). */
export function firstHost(cidr: Cidr): string | undefined {
  if (cidr.family !== 4) return undefined;
  const value = cidr.prefix >= 31 ? cidr.network : cidr.network + 1n;
  return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join(".");
}

const cidrOf = (text: string): Cidr | undefined => {
  const parsed = parseCidr(text);
  return parsed.ok ? parsed.cidr : undefined;
};

/**
 * Lays a strongSwan service out for the local VPN, or says why it cannot run there: every problem at once,
 * naming the service and connection.
 */
export function vpnLayout(service: Strongswan): VpnLayout {
  const problems: string[] = [];
  if (service.noIpsec) problems.push("has noIpsec: true: there is no tunnel to run");
  if (!service.noIpsec && service.connections.length === 0) problems.push("has no connections");
  const peers: PeerSite[] = [];
  const taken: Cidr[] = [];
  const allTargets: string[] = [];
  const peerAddresses = new Set<string>();
  for (const connection of service.connections) {
    const where = `connection ${connection.name}`;
    const address = connection.remote.addresses[0]!;
    const targets = hostsOf(connection.local.subnets);
    const hosts = hostsOf(connection.remote.subnets);
    const [target, host] = [targets[0], hosts[0]];
    if (ipToBigInt(address)?.family !== 4) problems.push(`${where}: the local VPN simulates IPv4 peers only, not ${address}`);
    for (const [side, subnets] of [["local", connection.local.subnets], ["remote", connection.remote.subnets]] as const) {
      const ipv6 = subnets.filter((subnet) => cidrOf(subnet)?.family === 6);
      if (ipv6.length > 0) problems.push(`${where}: the local VPN simulates IPv4 networks only, not ${side}.subnets ${ipv6.join(", ")}`);
    }
    if (peerAddresses.has(address)) problems.push(`${where}: another connection already has the peer ${address}`);
    peerAddresses.add(address);
    for (const text of [`${address}/32`, ...connection.local.subnets, ...connection.remote.subnets]) {
      const cidr = cidrOf(text);
      if (cidr) taken.push(cidr);
    }
    if (target && host) peers.push({ connection: connection.name, address, host, hosts, target });
    allTargets.push(...targets);
  }
  const persistentAddress = freeAddress(taken);
  if (!persistentAddress) problems.push(`every address of ${PERSISTENT_NETWORK} is used by the connections: none is left for the persistent address`);
  if (problems.length > 0) throw new Error(`strongSwan service ${service.name} cannot run in the local VPN:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return { persistentAddress: persistentAddress!, peers, targets: [...new Set([...peers.map((peer) => peer.target), ...allTargets])] };
}

/** The first host of each IPv4 network, in order. */
function hostsOf(subnets: readonly string[]): string[] {
  return subnets.flatMap((subnet) => {
    const cidr = cidrOf(subnet);
    const host = cidr && firstHost(cidr);
    return host ? [host] : [];
  });
}

function freeAddress(taken: readonly Cidr[]): string | undefined {
  const network = cidrOf(PERSISTENT_NETWORK)!;
  for (let offset = 1n; offset < 255n; offset++) {
    const candidate = { ...network, network: network.network + offset, prefix: 32 };
    if (!taken.some((cidr) => cidrContains(cidr, candidate))) return firstHost(candidate);
  }
  return undefined;
}

/**
 * What the simulated peer site's charon is loaded with: the connection seen from the other end (identities,
 * subnets and addresses swapped), with the same proposals, lifetimes, DPD and encapsulation. It waits when the
 * service initiates or traps (the local VPN initiates trapped connections: see trappedChildren), and initiates
 * when the service waits.
 */
export function mirrorService(service: Strongswan, connection: StrongswanConnectionConfig, persistentAddress: string): Strongswan {
  const startAction = ({ start: "none", none: "start", trap: "none" } as const)[connection.startAction];
  const mirrored: StrongswanConnectionConfig = {
    ...connection,
    local: { ...(connection.remote.id ? { id: connection.remote.id } : {}), subnets: connection.remote.subnets },
    remote: { addresses: [persistentAddress], ...(connection.local.id ? { id: connection.local.id } : {}), subnets: connection.local.subnets },
    startAction,
  };
  return { kind: "strongswan", name: `${service.name}-peer-${connection.name}`, noIpsec: false, connections: [mirrored], rules: [], defaultForward: "accept" };
}

const text = (value: ViciSection[string] | undefined): string => (typeof value === "string" ? value : "");
const sections = (value: ViciSection[string] | undefined): ViciSection[] =>
  value && typeof value === "object" && !Array.isArray(value) ? Object.values(value).filter((v): v is ViciSection => typeof v === "object" && !Array.isArray(v)) : [];

export type TunnelReading = Pick<TunnelStatus, "state" | "detail">;

/**
 * One connection's tunnel from `swanctl --list-sas --raw` (parsed): up with an established IKE SA and a CHILD SA
 * carrying traffic (the agent's TunnelUp rule: a rekey in progress stays up), connecting while an IKE SA exists without that, down with none. The detail names each
 * IKE SA's state and its CHILD SAs' states, e.g. "IKE ESTABLISHED; CHILD dc1 INSTALLED".
 */
export function readTunnel(events: readonly ViciSection[], connection: string): TunnelReading {
  const parts: string[] = [];
  let up = false;
  for (const event of events) {
    const ike = event[connection];
    if (!ike || typeof ike !== "object" || Array.isArray(ike)) continue;
    const ikeState = text(ike.state) || "UNKNOWN";
    const children = sections(ike["child-sas"]).map((child) => ({ name: text(child.name), state: text(child.state) || "UNKNOWN" }));
    if (ikeEstablished(ikeState) && children.some((child) => childCarriesTraffic(child.state))) up = true;
    parts.push([`IKE ${ikeState}`, ...children.map((child) => `CHILD ${child.name} ${child.state}`)].join("; "));
  }
  if (parts.length === 0) return { state: "down", detail: "no IKE SA" };
  return { state: up ? "up" : "connecting", detail: parts.join(" | ") };
}

/**
 * The CHILD SA configurations of the service's trapped connections (startAction trap), from `swanctl --list-conns
 * --raw`. kernel-libipsec relays no acquires, so a trap never fires on this kernel: the local VPN initiates these
 * children itself right after the load, as the first packet would. `list-conn` events carry vici's structure as
 * `list-sa` ones do (connection name → { …, children { <child> {…} } }), so the same parser reads them.
 */
export function trappedChildren(service: Strongswan, listConnsRaw: string): Array<{ ike: string; child: string }> {
  const events = parseListSas(listConnsRaw.replaceAll("list-conn event", "list-sa event"));
  return service.connections.filter((c) => c.startAction === "trap").flatMap((connection) =>
    events.flatMap((event) => {
      const conn = event[connection.name];
      const children = conn && typeof conn === "object" && !Array.isArray(conn) ? conn.children : undefined;
      return children && typeof children === "object" && !Array.isArray(children)
        ? Object.keys(children).map((child) => ({ ike: connection.name, child }))
        : [];
    }));
}

/** How long a heal drill waits for every tunnel to carry traffic again when the service initiates them all. */
export const DRILL_BASE_DEADLINE_MS = 60_000;

/**
 * How long the peer's charon retransmits a DPD before it gives up and restarts the connection (dpd_action restart):
 * retransmit_timeout · Σ retransmit_base^n for n = 0…retransmit_tries
 * (https://docs.strongswan.org/docs/latest/config/retransmission.html), with the 4 s and 1.8 of the defaults and the
 * 3 tries startCharon sets (containers/agent/charon.ts): 47.5 s.
 */
export const PEER_DPD_GIVE_UP_MS = Math.round(4_000 * [0, 1, 2, 3].reduce((sum, n) => sum + 1.8 ** n, 0));

/**
 * The drill's deadline: a connection that waits for its peer (startAction none) is back only once the peer's DPD has
 * given up on the lost SA (dpdDelay of silence, then the retransmissions) and the peer initiates again.
 */
export function drillDeadlineMs(service: Strongswan): number {
  const waiting = service.connections.filter((c) => c.startAction === "none").map((c) => durationMs(c.dpdDelay));
  return waiting.length === 0 ? DRILL_BASE_DEADLINE_MS : DRILL_BASE_DEADLINE_MS + Math.max(...waiting) + PEER_DPD_GIVE_UP_MS;
}
