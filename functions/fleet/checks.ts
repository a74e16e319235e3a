// Semantic checks: what the schema cannot see alone. Each finding carries the YAML path it is about,
// which the loader turns into a file:line.
import { WEAK_ALGORITHMS } from "./algorithms.ts";
import { durationMs } from "./duration.ts";
import { cidrsOverlap, isDnsName, isIPv4, isIpAddress, isPrivateAddress, parseCidr, type Cidr } from "./net.ts";
import { AGENT_HEALTH_PORT, IKE_PORTS } from "./listeners.ts";
import type {
  DnsSettingsConfig, FleetConfig, HaproxyConfig, NginxConfig, ServiceConfig, SquidConfig, StrongswanConfig,
} from "./schema.ts";

export type YamlPath = ReadonlyArray<string | number>;

export interface Finding {
  readonly severity: "error" | "warning";
  readonly path: YamlPath;
  readonly rule: string;
  readonly message: string;
}

export function checkFleet(fleet: FleetConfig): Finding[] {
  return checkFleetParts(fleet);
}

/** The parts of a config that are valid on their own; a part the schema refused is left out. */
export interface FleetParts {
  readonly dns?: DnsSettingsConfig;
  readonly targetGroups: FleetConfig["targetGroups"];
  readonly services: Partial<FleetConfig["services"]>;
}

export function checkFleetParts(parts: FleetParts): Finding[] {
  return [
    ...(parts.dns ? checkDns(parts.dns) : []),
    ...checkTargetGroups(parts.targetGroups),
    ...Object.entries(parts.services).flatMap(([name, service]) => (service ? checkService(["services", name], service) : [])),
  ];
}

function checkDns(dns: DnsSettingsConfig): Finding[] {
  return durationMs(dns.minTtl) > durationMs(dns.maxTtl)
    ? [error(["dns", "minTtl"], "ttl-bounds", `minTtl ${dns.minTtl} is longer than maxTtl ${dns.maxTtl}`)]
    : [];
}

function checkTargetGroups(targetGroups: FleetConfig["targetGroups"]): Finding[] {
  const groups = Object.entries(targetGroups);
  return [
    ...duplicates(groups.map(([name, group]) => ({ value: group.arn, path: ["targetGroups", name, "arn"] })), "duplicate-target-group",
      (arn) => `target group ${arn}`),
    ...groups.flatMap(([name, group]) =>
      group.targets.flatMap((target, i): Finding[] => {
        if (!isIpAddress(target)) return [];
        const path = ["targetGroups", name, "targets", i];
        if (!isPrivateAddress(target)) {
          return [error(path, "nlb-private-target",
            `${target} is public: NLB IP targets must be private (RFC 1918 / RFC 6598); route public addresses through an haproxy service`)];
        }
        return isIPv4(target) === (group.ipAddressType === "ipv4") ? [] : [error(path, "ip-family", `${target} is not an ${group.ipAddressType} address`)];
      })),
  ];
}

function checkService(at: YamlPath, service: ServiceConfig): Finding[] {
  switch (service.kind) {
    case "haproxy": return [...checkHaproxy(at, service), ...reservedPorts(service.listeners.map((l, i) => ({ port: l.port, path: [...at, "listeners", i, "port"] })))];
    case "nginx": return [...checkNginx(at, service), ...reservedPorts([
      ...service.tls.map((l, i) => ({ port: l.port, path: [...at, "tls", i, "port"] })),
      ...service.http.map((l, i) => ({ port: l.port, path: [...at, "http", i, "port"] })),
    ])];
    case "squid": return [...checkSquid(at, service), ...reservedPorts([{ port: service.port, path: [...at, "port"] }])];
    case "strongswan": return checkStrongswan(at, service);
  }
}

/** The agent's health endpoint shares the task's network with the daemon: a listener there would never bind. */
function reservedPorts(ports: ReadonlyArray<{ port: number; path: YamlPath }>): Finding[] {
  return ports.filter(({ port }) => port === AGENT_HEALTH_PORT).map(({ path }) =>
    error(path, "reserved-port", `port ${AGENT_HEALTH_PORT} is the config agent's health check in the same task: choose another port`));
}

/**
 * NGINX map keys with "hostnames": ".x" stands for "x" and "*.x" together, so it may not sit next to either
 * in one map ("conflicting parameter"); the same name twice is refused too (duplicate-route, checked apart).
 */
function serverNameConflicts(matches: ReadonlyArray<{ value: string; path: YamlPath }>): Finding[] {
  const findings: Finding[] = [];
  const seen = new Map<string, YamlPath>();
  for (const { value, path } of matches) {
    if (seen.has(value)) continue;
    const covered = value.startsWith(".") ? [value.slice(1), `*${value}`] : value.startsWith("*.") ? [value.slice(1)] : [`.${value}`];
    const clash = covered.find((other) => seen.has(other));
    if (clash !== undefined) {
      const dotted = value.startsWith(".") ? value : clash;
      findings.push(error(path, "server-name-conflict",
        `${value} conflicts with ${clash} at ${seen.get(clash)!.join(".")}: "${dotted}" already means ${dotted.slice(1)} and *${dotted}, so keep only one of them`));
    }
    seen.set(value, path);
  }
  return findings;
}

const error = (path: YamlPath, rule: string, message: string): Finding => ({ severity: "error", path, rule, message });
const warning = (path: YamlPath, rule: string, message: string): Finding => ({ severity: "warning", path, rule, message });

/** Reports every value seen before, e.g. a port two listeners both claim. */
function duplicates<T>(items: ReadonlyArray<{ value: T; path: YamlPath }>, rule: string, describe: (value: T) => string) {
  const seen = new Map<T, YamlPath>();
  const findings: Finding[] = [];
  for (const { value, path } of items) {
    const first = seen.get(value);
    if (first) findings.push(error(path, rule, `${describe(value)} is already used at ${first.join(".")}`));
    else seen.set(value, path);
  }
  return findings;
}

/** Overlapping CIDRs within one list are a typo or dead weight; both are worth stopping for. */
function overlaps(list: readonly string[], path: YamlPath): Finding[] {
  const parsed = list.map((text) => (parseCidr(text) as { ok: true; cidr: Cidr }).cidr);
  const findings: Finding[] = [];
  for (let i = 0; i < parsed.length; i++) {
    for (let j = 0; j < i; j++) {
      if (cidrsOverlap(parsed[i]!, parsed[j]!)) {
        findings.push(error([...path, i], "cidr-overlap", `${list[i]} overlaps ${list[j]} (entry ${j + 1} of this list)`));
        break;
      }
    }
  }
  return findings;
}

function portsOf(spec: number | string): [number, number] {
  if (typeof spec === "number") return [spec, spec];
  const [low, high] = spec.split("-").map(Number) as [number, number];
  return [low, high];
}

function overlappingPorts(list: ReadonlyArray<number | string>, path: YamlPath): Finding[] {
  const findings: Finding[] = [];
  list.forEach((spec, i) => {
    const [low, high] = portsOf(spec);
    const clash = list.slice(0, i).findIndex((other) => {
      const [otherLow, otherHigh] = portsOf(other);
      return low <= otherHigh && otherLow <= high;
    });
    if (clash >= 0) findings.push(error([...path, i], "port-overlap", `${spec} overlaps ${list[clash]} in the same list`));
  });
  return findings;
}

function checkHaproxy(at: YamlPath, service: HaproxyConfig): Finding[] {
  const listeners = service.listeners.map((listener, i) => ({ listener, path: [...at, "listeners", i] as YamlPath }));
  return [
    ...duplicates(listeners.map(({ listener, path }) => ({ value: listener.port, path: [...path, "port"] })), "duplicate-port",
      (port) => `port ${port}`),
    ...duplicates(listeners.map(({ listener, path }) => ({ value: listener.name, path: [...path, "name"] })), "duplicate-name",
      (name) => `listener name "${name}"`),
    ...listeners.flatMap(({ listener, path }) => [
      ...overlaps(listener.allowedSources, [...path, "allowedSources"]),
      ...duplicates(
        listener.backends.map((backend, i) => ({ value: `${backend.host}:${backend.port}`, path: [...path, "backends", i] })),
        "duplicate-backend", (target) => `backend ${target}`),
    ]),
  ];
}

function checkNginx(at: YamlPath, service: NginxConfig): Finding[] {
  const findings: Finding[] = [];
  const listeners = [
    ...service.tls.map((listener, i) => ({ listener, path: [...at, "tls", i] as YamlPath })),
    ...service.http.map((listener, i) => ({ listener, path: [...at, "http", i] as YamlPath })),
  ];
  if (listeners.length === 0) findings.push(error(at, "no-listeners", "an nginx service needs at least one tls or http listener"));
  findings.push(
    ...duplicates(listeners.map(({ listener, path }) => ({ value: listener.port, path: [...path, "port"] })), "duplicate-port",
      (port) => `port ${port}`),
    ...listeners.flatMap(({ listener, path }) => {
      const matches = listener.routes.map((route, i) => ({ value: route.match, path: [...path, "routes", i, "match"] as YamlPath }));
      return [...duplicates(matches, "duplicate-route", (match) => `server name ${match}`), ...serverNameConflicts(matches)];
    }),
    ...overlaps(service.access.allow, [...at, "access", "allow"]),
    ...overlaps(service.access.deny, [...at, "access", "deny"]),
    ...(service.proxyProtocol ? overlaps(service.proxyProtocol.trustedCidrs, [...at, "proxyProtocol", "trustedCidrs"]) : []),
  );
  return findings;
}

function checkSquid(at: YamlPath, service: SquidConfig): Finding[] {
  return [
    ...overlaps(service.allowedSources, [...at, "allowedSources"]),
    ...overlappingPorts(service.connectPorts, [...at, "connectPorts"]),
    ...overlappingPorts(service.httpPorts, [...at, "httpPorts"]),
  ];
}

function checkStrongswan(at: YamlPath, service: StrongswanConfig): Finding[] {
  const findings: Finding[] = [];
  if (service.noIpsec && service.connections.length > 0) {
    findings.push(error([...at, "connections"], "no-ipsec-connections", "noIpsec is set, so connections must be empty"));
  }
  if (!service.noIpsec && service.connections.length === 0) {
    findings.push(error(at, "no-connections", "needs at least one connection (or noIpsec: true for port forwarding only)"));
  }
  if (service.noIpsec && service.rules.length === 0) {
    findings.push(error(at, "no-rules", "noIpsec mode needs at least one rule"));
  }
  findings.push(
    ...duplicates(service.connections.map((c, i) => ({ value: c.name, path: [...at, "connections", i, "name"] })),
      "duplicate-name", (name) => `connection name "${name}"`),
    ...duplicates(service.rules.map((r, i) => ({ value: r.name, path: [...at, "rules", i, "name"] })),
      "duplicate-name", (name) => `rule name "${name}"`),
  );

  service.connections.forEach((connection, i) => {
    const path = [...at, "connections", i];
    if (connection.remote.addresses.length > 1 && connection.remote.id === undefined) {
      findings.push(error([...path, "remote", "addresses"], "remote-id",
        "several peer addresses need remote.id: the identity every one of them presents (it selects the pre-shared key)"));
    }
    findings.push(...duplicates(connection.remote.addresses.map((value, a) => ({ value, path: [...path, "remote", "addresses", a] })),
      "duplicate-address", (address) => `peer address ${address}`));
    findings.push(...overlaps(connection.local.subnets, [...path, "local", "subnets"]));
    findings.push(...overlaps(connection.remote.subnets, [...path, "remote", "subnets"]));
    connection.remote.subnets.forEach((remote, r) => {
      const local = connection.local.subnets.find((candidate) => cidrsOverlap(cidrOf(candidate), cidrOf(remote)));
      if (local) {
        findings.push(error([...path, "remote", "subnets", r], "cidr-overlap",
          `remote subnet ${remote} overlaps local subnet ${local}: traffic could not be routed`));
      }
    });
    for (const phase of ["ike", "esp"] as const) {
      const proposal = connection[phase];
      for (const [field, values] of [["encryption", proposal.encryption], ["integrity", proposal.integrity], ["dhGroups", proposal.dhGroups]] as const) {
        values.forEach((value, v) => {
          if (WEAK_ALGORITHMS.has(value)) {
            findings.push(warning([...path, phase, field, v], "weak-algorithm", `${value} is weak; keep it only while the peer needs it`));
          }
        });
      }
    }
  });

  const forwardedPorts: Array<{ value: number; path: YamlPath }> = [];
  service.rules.forEach((rule, i) => {
    const path = [...at, "rules", i];
    const portful = rule.protocols.filter((p) => p === "icmp" || p === "all");
    if (rule.ports !== "all" && portful.length > 0) {
      findings.push(error([...path, "ports"], "ports-need-tcp-udp",
        `ports apply only to tcp and udp, but protocols include ${portful.join(", ")}`));
    }
    if (rule.ports !== "all") findings.push(...overlappingPorts(rule.ports, [...path, "ports"]));
    if (rule.portForward) {
      if (portful.length > 0) {
        findings.push(error([...path, "portForward"], "ports-need-tcp-udp",
          `portForward needs protocols tcp and/or udp, not ${portful.join(", ")}`));
      }
      rule.to.forEach((to, t) => {
        if (!isDnsName(to) && !to.endsWith("/32") && !to.endsWith("/128")) {
          findings.push(error([...path, "to", t], "port-forward-target",
            `portForward sends traffic to single hosts; ${to} is a network`));
        }
      });
      for (const [destination, source] of Object.entries(rule.portForward)) {
        const destinationPort = Number(destination);
        if (destinationPort < 1 || destinationPort > 65535) {
          findings.push(error([...path, "portForward", destination], "port-range", `destination port ${destination} is outside 1-65535`));
        }
        forwardedPorts.push({ value: source, path: [...path, "portForward", destination] });
        if (!service.noIpsec && IKE_PORTS.includes(source) && rule.protocols.includes("udp")) {
          findings.push(error([...path, "portForward", destination], "ike-port",
            `udp ${source} is IKE's own port on this IPsec host: forwarding it would take the tunnels' traffic; choose another source port`));
        }
      }
    }
  });
  findings.push(...duplicates(forwardedPorts, "duplicate-port", (port) => `forwarded source port ${port}`));
  return findings;
}

function cidrOf(text: string): Cidr {
  return (parseCidr(text) as { ok: true; cidr: Cidr }).cidr;
}
