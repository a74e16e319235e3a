// What a renderer needs besides the model: where the files will live and what DNS resolved to.
// Renderers are pure: the same model and context give byte-identical files.
import { canonicalAddress, parseCidr } from "../fleet/net.ts";

/** Hostname → its current addresses, as the DNS loop last accepted them. */
export type ResolvedTargets = Readonly<Record<string, readonly string[]>>;

export interface RenderContext {
  /** Directory the daemon reads the bundle's files from. */
  readonly bundleDir: string;
  /** Directory for sockets, pid files and state the daemon writes. */
  readonly runDir: string;
  /** Address listeners bind to; undefined binds every interface. */
  readonly listenAddress?: string;
  /** Resolved addresses for the hostnames the service routes to. */
  readonly targets: ResolvedTargets;
  /** Directory for access and error logs; undefined sends them to the container's stdout and stderr. */
  readonly logDir?: string;
  /** Squid only: a hosts file to consult before DNS (tests point names at loopback with it). */
  readonly squidHostsFile?: string;
  /**
   * The load balancer's subnets, when the deployment puts one in front (PROXY_FLEET_PROXY_PROTOCOL_FROM): every
   * HAProxy, NGINX and Squid listener then requires a PROXY protocol v2 header, accepts it only from these
   * senders and judges the client by the address in it. Undefined: no PROXY protocol unless the config asks.
   */
  readonly proxyProtocolFrom?: readonly string[];
}

/** The environment variable the stacks set to the NLB's subnets; the agent reads it into the render context. */
export const PROXY_PROTOCOL_ENV = "PROXY_FLEET_PROXY_PROTOCOL_FROM";

/** Parses PROXY_FLEET_PROXY_PROTOCOL_FROM ("10.0.0.0/24,10.0.1.0/24"); unset or blank gives undefined. */
export function parseProxyProtocolFrom(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  return value.split(",").map((entry) => {
    const parsed = parseCidr(entry.trim());
    if (!parsed.ok) throw new Error(`${PROXY_PROTOCOL_ENV}: "${entry.trim()}" ${parsed.reason}`);
    return parsed.cidr.text;
  });
}

export const CONTAINER_CONTEXT: RenderContext = {
  bundleDir: "/etc/proxy-fleet/bundle",
  runDir: "/run/proxy-fleet",
  targets: {},
};

/** Where a daemon writes a log stream: a file in logDir, or the standard stream the container collects. */
export function logPath(ctx: RenderContext, name: string, stream: "stdout" | "stderr"): string {
  return ctx.logDir ? `${ctx.logDir}/${name}` : `/dev/${stream}`;
}

export function contextWith(overrides: Partial<RenderContext>): RenderContext {
  return { ...CONTAINER_CONTEXT, ...overrides };
}

export const HEADER = (service: string, kind: string) =>
  `# proxy-fleet: ${kind} service "${service}". Generated from fleet.yaml; edits here are overwritten.`;

/** `host:port`, bracketing IPv6 addresses. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${canonicalAddress(host)}]:${port}` : `${host}:${port}`;
}

export function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort(compareText);
}

/** Locale-independent ordering, so output never depends on the machine that renders it. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
