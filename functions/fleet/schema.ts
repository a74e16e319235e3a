// The fleet.yaml schema. Every string that reaches a rendered file is constrained here to a safe alphabet,
// so no value can carry a newline, a quote, a brace or a directive separator into a daemon's config.
import * as z from "zod";
import { DURATION_PATTERN, durationMs } from "./duration.ts";
import { DH_GROUPS, ENCRYPTION, INTEGRITY, UNAVAILABLE_ALGORITHMS } from "./algorithms.ts";
import { describeValue } from "./messages.ts";
import { hasZoneId, isDnsName, isIPv6, isIpAddress, normalizeDnsName, parseCidr } from "./net.ts";

function withRule<T extends z.ZodType>(schema: T, rule: string, check: (value: z.output<T>) => string | undefined) {
  return schema.superRefine((value, ctx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem, params: { rule } });
  });
}

export const Name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,47}$/, "must start with a lowercase letter and hold only a-z, 0-9 and '-' (48 at most)");

export const Port = z.number().int().min(1).max(65535);

export const PortRange = withRule(
  z.union([Port, z.string().regex(/^[0-9]{1,5}-[0-9]{1,5}$/, "must be a port or a range such as 8000-8100")]),
  "port-range",
  (value) => {
    if (typeof value === "number") return undefined;
    const [low, high] = value.split("-").map(Number) as [number, number];
    if (low < 1 || high > 65535) return `port range ${value} is outside 1-65535`;
    // "443-443" is one port written as a range: allowed, as iptables and Squid take it.
    if (low > high) return `port range ${value} must go from low to high`;
    return undefined;
  },
);

/**
 * The longest timer HAProxy takes ("timer overflow ... maximum value is 2147483647 ms or ~24.8 days"); NGINX
 * keeps milliseconds in 32 bits and silently wraps longer values, and Node's setTimeout fires at once beyond it.
 */
export const MAX_DURATION_MS = 2_147_483_647;

/** A duration; `seconds` names the daemon that counts this field in whole seconds (no "ms"). */
export function duration(seconds?: string) {
  return withRule(z.string().regex(DURATION_PATTERN, "must be a duration such as 500ms, 30s, 5m, 8h or 1d"), "duration", (value) => {
    if (!DURATION_PATTERN.test(value)) return undefined;
    const ms = durationMs(value);
    if (ms === 0) return `${value} must be longer than zero`;
    if (ms > MAX_DURATION_MS) return `${value} is longer than 24d (2147483647ms, about 24.8 days), the longest timer the daemons take`;
    if (seconds && ms % 1000 !== 0) return `${value} must be whole seconds (such as ${Math.ceil(ms / 1000)}s): ${seconds} counts this in seconds`;
    return undefined;
  });
}

export const Duration = duration();

export const Cidr = withRule(z.string(), "cidr", (value) => {
  const parsed = parseCidr(value);
  return parsed.ok ? undefined : `"${value}" ${parsed.reason}`;
}).transform((value) => (parseCidr(value) as { ok: true; cidr: { text: string } }).cidr.text);

export const DnsName = withRule(z.string(), "dns-name", (value) =>
  isDnsName(value) ? undefined : `"${value}" is not a valid DNS name`,
).transform(normalizeDnsName);

/** A host to connect to: an IPv4/IPv6 address or a DNS name that the DNS loop resolves. */
export const Host = withRule(z.string(), "host", (value) => {
  if (hasZoneId(value)) return zoneIdMessage(value);
  return isIpAddress(value) || isDnsName(value) ? undefined : `"${value}" is neither an IP address nor a valid DNS name`;
}).transform((value) => (isIpAddress(value) ? value : normalizeDnsName(value)));

function zoneIdMessage(value: string): string {
  return `"${value}" carries a zone id (${value.slice(value.indexOf("%"))}), which none of the daemons takes: write the address alone`;
}

/** An IP address, never a name or an address with a zone id. */
export function ipAddress(rule: string, why: string) {
  return withRule(z.string(), rule, (value) => {
    if (hasZoneId(value)) return zoneIdMessage(value);
    return isIpAddress(value) ? undefined : `"${value}" must be an IP address (such as 10.0.0.2 or fd00::2)${why}`;
  });
}

/**
 * A rule endpoint: an IPv4 CIDR, an IPv4 address, or a DNS name (its IPv4 addresses). Rules are rendered for
 * iptables only; ip6tables is out of scope, so an IPv6 endpoint is refused rather than silently dropped.
 */
export const Endpoint = withRule(z.string(), "endpoint", (value) => {
  if (hasZoneId(value) || isIPv6(value.split("/")[0]!)) {
    return `"${value}" is an IPv6 address: rules are rendered for iptables (IPv4) only; use an IPv4 address, CIDR or a DNS name`;
  }
  if (value.includes("/") || isIpAddress(value)) {
    const parsed = parseCidr(value);
    return parsed.ok ? undefined : `"${value}" ${parsed.reason}`;
  }
  return isDnsName(value) ? undefined : `"${value}" is neither a CIDR, an IP address nor a valid DNS name`;
}).transform((value) => {
  if (value.includes("/") || isIpAddress(value)) return (parseCidr(value) as { ok: true; cidr: { text: string } }).cidr.text;
  return normalizeDnsName(value);
});

export const Target = z.strictObject({ host: Host, port: Port });

const Timeouts = z.strictObject({
  connect: Duration.default("5s"),
  client: Duration.default("1h"),
  server: Duration.default("1h"),
});

const HealthCheck = z.strictObject({
  enabled: z.boolean().default(true),
  interval: Duration.default("5s"),
  rise: z.number().int().min(1).max(100).default(2),
  fall: z.number().int().min(1).max(100).default(3),
});

export const HaproxyListener = z.strictObject({
  name: Name,
  port: Port,
  backends: z.array(Target).min(1, "needs at least one backend"),
  balance: z.enum(["roundrobin", "leastconn", "source"]).default("roundrobin"),
  healthCheck: HealthCheck.default({ enabled: true, interval: "5s", rise: 2, fall: 3 }),
  timeouts: Timeouts.default({ connect: "5s", client: "1h", server: "1h" }),
  allowedSources: z.array(Cidr).default([]),
  maxConnections: z.number().int().min(1).max(1_000_000).optional(),
});

export const HaproxyService = z.strictObject({
  kind: z.literal("haproxy"),
  listeners: z.array(HaproxyListener).min(1, "needs at least one listener"),
});

const NginxRoute = z.strictObject({
  /** Server name: exact, or ".example.com" / "*.example.com" for a domain and its subdomains. */
  match: withRule(z.string(), "server-name", (value) => {
    const bare = value.startsWith("*.") ? value.slice(2) : value.startsWith(".") ? value.slice(1) : value;
    if (bare.endsWith(".") && isDnsName(bare)) {
      return `"${value}" ends with a dot and would never match: clients send server names without it (write ${value.slice(0, -1)})`;
    }
    return isDnsName(bare) ? undefined : `"${value}" is not a server name (example.com, .example.com or *.example.com)`;
  }).transform((value) => value.toLowerCase()),
  upstream: Target,
});

const NginxTlsListener = z.strictObject({
  port: Port,
  routes: z.array(NginxRoute).min(1, "needs at least one route"),
  default: Target.optional(),
});

const NginxHttpListener = z.strictObject({
  port: Port,
  routes: z.array(NginxRoute).min(1, "needs at least one route"),
  default: Target.optional(),
});

export const NginxService = z.strictObject({
  kind: z.literal("nginx"),
  resolver: z
    .strictObject({
      // NGINX resolves a resolver given by name only once, at start, through the system resolver: addresses only.
      addresses: z.array(ipAddress("resolver", ": NGINX needs its resolver by address")).min(1).default(["169.254.169.253"]),
      valid: duration("NGINX's resolver valid=").default("30s"),
      timeout: Duration.default("5s"),
      ipv6: z.boolean().default(false),
    })
    .default({ addresses: ["169.254.169.253"], valid: "30s", timeout: "5s", ipv6: false }),
  proxyProtocol: z
    .strictObject({ enabled: z.boolean().default(true), trustedCidrs: z.array(Cidr).min(1, "names the load balancer's CIDRs") })
    .optional(),
  access: z
    .strictObject({ allow: z.array(Cidr).default([]), deny: z.array(Cidr).default([]) })
    .default({ allow: [], deny: [] }),
  tls: z.array(NginxTlsListener).default([]),
  http: z.array(NginxHttpListener).default([]),
  connectTimeout: Duration.default("5s"),
});

/** A path inside the repository: relative, never climbing out with "..". */
export const ALLOWLIST_PATH = /^(?!\/)(?!.*\.\.)[A-Za-z0-9._/-]+$/;

export const SquidService = z.strictObject({
  kind: z.literal("squid"),
  port: Port.default(3128),
  /** Path (from the repository root) of the allowlist file: one domain or ".suffix" per line. */
  allowlist: z.string().regex(ALLOWLIST_PATH, "must be a relative path inside the repository"),
  allowedSources: z.array(Cidr).min(1, "names the client CIDRs allowed to use the proxy"),
  connectPorts: z.array(PortRange).min(1).default([443]),
  httpPorts: z.array(PortRange).default([]),
  dnsNameservers: z.array(ipAddress("dns-server", "")).default([]),
  /**
   * PrivateLink consumers admitted by their VPC endpoint id (from the NLB's PROXY v2 header); a connection that
   * came through any other endpoint is refused whatever its client address.
   */
  allowedEndpoints: z
    .array(z.string().regex(/^vpce-[0-9a-f]{8,17}$/, "must be a VPC endpoint id such as vpce-0123456789abcdef0"))
    .optional(),
});

// `{stage}` stands for the deployed stage's name (functions/fleet/secrets.ts), filled in by the task that reads the key.
const SsmParameter = z.strictObject({
  ssmParameter: z.string().regex(/^\/?(?:[A-Za-z0-9_.\-/]|\{stage\}){1,2047}$/, "is not an SSM parameter name (letters, digits, _ . - / and {stage})"),
});
const SecretsManagerSecret = z.strictObject({
  secretsManager: z.string().regex(/^(?:[A-Za-z0-9/_+=.@-]|\{stage\}){1,512}$/, "is not a Secrets Manager secret name or ARN (letters, digits, / _ + = . @ - and {stage})"),
});
/** A reference to where the pre-shared key lives; never the key itself. */
export const SecretReference = z
  .unknown()
  .superRefine((value, ctx) => {
    if (typeof value === "string") {
      ctx.addIssue({
        code: "custom",
        params: { rule: "psk-literal" },
        message:
          "a pre-shared key must never be written in the config: store it as an SSM SecureString or a Secrets Manager " +
          "secret and reference it ({ ssmParameter: /name } or { secretsManager: name })",
      });
    }
  })
  .pipe(
    z.union([SsmParameter, SecretsManagerSecret], {
      error: "must be { ssmParameter: name } or { secretsManager: name }",
    }),
  );

/** IKE identity: address, FQDN, user@FQDN or a DN; quoted when rendered, so only a safe alphabet is allowed. */
const IkeIdentity = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9@.:=,_ /+*-]+$/, "may hold only letters, digits, spaces and @ . : = , _ / + * -");

/** One of strongSwan's algorithm names; a name charon knows but cannot use here says why. */
function algorithm<const T extends readonly [string, ...string[]]>(names: T, what: string) {
  return z.enum(names, {
    error: (issue) => {
      const input = typeof issue.input === "string" ? issue.input : undefined;
      const why = input !== undefined ? UNAVAILABLE_ALGORITHMS[input] : undefined;
      return why ? `${input} ${why}` : `${describeValue(issue.input)} is not ${what} charon offers here: one of ${names.join(", ")}`;
    },
  });
}

const Proposal = z.strictObject({
  encryption: z.array(algorithm(ENCRYPTION, "an encryption algorithm")).min(1).default(["aes256gcm16", "aes256"]),
  integrity: z.array(algorithm(INTEGRITY, "an integrity algorithm")).min(1).default(["sha256"]),
  dhGroups: z.array(algorithm(DH_GROUPS, "a DH group")).min(1).default(["modp2048"]),
});

export const StrongswanConnection = z.strictObject({
  name: Name,
  ikeVersion: z.union([z.literal(1), z.literal(2)]).default(2),
  psk: SecretReference,
  local: z
    .strictObject({ id: IkeIdentity.optional(), subnets: z.array(Cidr).min(1) }),
  remote: z
    .strictObject({
      /** The peer; `addresses` lists several (primary, secondary), tried in order. */
      address: ipAddress("schema", "").optional(),
      addresses: z.array(ipAddress("schema", "")).min(1).optional(),
      id: IkeIdentity.optional(),
      subnets: z.array(Cidr).min(1),
    })
    .superRefine((remote, ctx) => {
      if ((remote.address === undefined) === (remote.addresses === undefined)) {
        ctx.addIssue({ code: "custom", params: { rule: "remote-address" },
          message: "names the peer with address (one IP address) or addresses (a list, primary first), exactly one of the two" });
      }
    })
    // One form for readers (and a model that validates again as written, as bundles carry it): addresses.
    .transform(({ address, addresses, ...rest }) => ({ ...rest, addresses: addresses ?? (address === undefined ? [] : [address]) })),
  ike: Proposal.extend({ lifetime: duration("strongSwan").default("8h") }).default({
    encryption: ["aes256gcm16", "aes256"], integrity: ["sha256"], dhGroups: ["modp2048"], lifetime: "8h",
  }),
  esp: Proposal.extend({ lifetime: duration("strongSwan").default("1h") }).default({
    encryption: ["aes256gcm16", "aes256"], integrity: ["sha256"], dhGroups: ["modp2048"], lifetime: "1h",
  }),
  /** start: bring the tunnel up now; trap: on first matching packet; none: wait for the peer. */
  startAction: z.enum(["start", "trap", "none"]).default("start"),
  dpdDelay: duration("strongSwan").default("30s"),
  /** Force UDP encapsulation of ESP (NAT-T) even without NAT in the path. */
  forceUdpEncapsulation: z.boolean().default(false),
});

const Protocol = z.enum(["tcp", "udp", "icmp", "all"]);

export const StrongswanRule = z.strictObject({
  name: Name,
  from: z.array(Endpoint).min(1),
  to: z.array(Endpoint).min(1),
  protocols: z.array(Protocol).min(1).default(["all"]),
  ports: z.union([z.literal("all"), z.array(PortRange).min(1)]).default("all"),
  /** destination port → source port: traffic reaching the instance on the source port goes to `to` on the destination port. */
  portForward: z.record(z.string().regex(/^[0-9]{1,5}$/, "must be a port number"), Port).optional(),
  masquerade: z.boolean().default(false),
  /**
   * Log each new connection the rule accepts (iptables LOG, prefix "pf:<rule> ") to the host's kernel log;
   * with defaultForward drop, also new connections no rule accepts ("pf:DROP "). docs/config.md says where
   * the lines go.
   */
  log: z.boolean().default(false),
});

export const StrongswanService = z.strictObject({
  kind: z.literal("strongswan"),
  /** Port-forward-only mode: no IPsec, just the iptables rules. */
  noIpsec: z.boolean().default(false),
  connections: z.array(StrongswanConnection).default([]),
  rules: z.array(StrongswanRule).default([]),
  /** What happens to forwarded traffic no rule accepts. */
  defaultForward: z.enum(["drop", "accept"]).default("drop"),
});

export const Service = z.discriminatedUnion("kind", [HaproxyService, NginxService, SquidService, StrongswanService], {
  error: (issue) =>
    issue.code === "invalid_union" ? "kind must be one of haproxy, nginx, squid, strongswan" : undefined,
});

/** A DNS server: an address, optionally with a port ("10.0.0.2", "127.0.0.1:5353", "[::1]:53"). */
const DnsServer = withRule(z.string(), "dns-server", (value) => {
  const bracketed = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(value);
  const plain = /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(value);
  const [address, port] = bracketed ? [bracketed[1]!, bracketed[2]] : plain ? [plain[1]!, plain[2]] : [value, undefined];
  if (hasZoneId(address)) return zoneIdMessage(address);
  if (!isIpAddress(address)) return `"${value}" is not a DNS server address (10.0.0.2, 127.0.0.1:5353 or [::1]:53)`;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `"${value}" has a port outside 1-65535`;
  return undefined;
});

export const DnsSettings = z.strictObject({
  /** Resolvers the DNS loop asks; the VPC resolver by default. */
  resolvers: z.array(DnsServer).min(1).default(["169.254.169.253"]),
  /** An address leaves a target list only after this many consecutive answers without it. */
  removeAfterMisses: z.number().int().min(1).max(100).default(3),
  /** A run that would remove more than this share of a list at once holds the removal and raises an alarm. */
  maxShrinkPercent: z.number().int().min(0).max(100).default(50),
  /** Answers are re-resolved when their TTL expires, but never sooner than minTtl nor later than maxTtl. */
  minTtl: Duration.default("30s"),
  maxTtl: Duration.default("1h"),
  timeout: Duration.default("2s"),
});

export const DNS_DEFAULTS = {
  resolvers: ["169.254.169.253"], removeAfterMisses: 3, maxShrinkPercent: 50, minTtl: "30s", maxTtl: "1h", timeout: "2s",
};

/** An NLB IP target group whose members follow DNS names (hostname-as-target). */
export const TargetGroup = z.strictObject({
  arn: z
    .string()
    .regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
      "must be an elasticloadbalancing target group ARN"),
  port: Port,
  targets: z.array(Host).min(1),
  /** "all" registers addresses outside the VPC (on-prem over Direct Connect or VPN). */
  availabilityZone: z.literal("all").optional(),
  ipAddressType: z.enum(["ipv4", "ipv6"]).default("ipv4"),
  /** Take over targets already registered that DNS also names; otherwise only our own are ever removed. */
  adoptExisting: z.boolean().default(false),
});

export const Fleet = z.strictObject({
  version: z.literal(1, { error: "version must be 1" }),
  dns: DnsSettings.default(DNS_DEFAULTS),
  targetGroups: z.record(Name, TargetGroup).default({}),
  services: z.record(Name, Service).refine((services) => Object.keys(services).length > 0, "needs at least one service"),
});

export type FleetInput = z.input<typeof Fleet>;
export type FleetConfig = z.output<typeof Fleet>;
export type ServiceConfig = z.output<typeof Service>;
export type HaproxyConfig = z.output<typeof HaproxyService>;
export type NginxConfig = z.output<typeof NginxService>;
export type SquidConfig = z.output<typeof SquidService>;
export type StrongswanConfig = z.output<typeof StrongswanService>;
export type StrongswanConnectionConfig = z.output<typeof StrongswanConnection>;
export type StrongswanRuleConfig = z.output<typeof StrongswanRule>;
export type TargetConfig = z.output<typeof Target>;
export type DnsSettingsConfig = z.output<typeof DnsSettings>;
export type TargetGroupConfig = z.output<typeof TargetGroup>;
