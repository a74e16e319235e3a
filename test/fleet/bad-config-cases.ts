// The corpus of bad configs: each case names every error expected (file:line rule) and a fragment of the first
// message. Shared by the tests that run it through the loader's fast and positional paths.

export interface Case {
  readonly name: string;
  readonly files: Record<string, string>;
  /** Every error expected, as "file:line rule", plus a fragment of the first error's message. */
  readonly errors: string[];
  readonly message: string;
}

const HEADER = "version: 1\nservices:\n";
const haproxy = (listeners: string) => `${HEADER}  router:\n    kind: haproxy\n    listeners:\n${listeners}`;
const listener = (name: string, port: number | string, extra = "") =>
  `      - name: ${name}\n        port: ${port}\n        backends: [{ host: db.example.com, port: 5432 }]\n${extra}`;
export const squid = (extra: string, list = "example.com\n") => ({
  "fleet.yaml": `${HEADER}  egress:\n    kind: squid\n    allowlist: allow.txt\n    allowedSources: [10.0.0.0/8]\n${extra}`,
  "allow.txt": list,
});
const nginx = (body: string) => `${HEADER}  ingress:\n    kind: nginx\n${body}`;
const tlsRoute = (match = "a.example.com") =>
  `    tls:\n      - port: 443\n        routes:\n          - { match: "${match}", upstream: { host: a.example.net, port: 443 } }\n`;
const vpn = (connection: string, rules = "") =>
  `${HEADER}  vpn:\n    kind: strongswan\n    connections:\n      - name: dc1\n${connection}${rules}`;
const goodConnection = (overrides: Record<string, string> = {}) => {
  const fields: Record<string, string> = {
    psk: "{ ssmParameter: /vpn/dc1 }",
    local: "{ subnets: [10.0.0.0/16] }",
    remote: "{ address: 198.51.100.1, subnets: [192.168.0.0/16] }",
    ...overrides,
  };
  return Object.entries(fields).map(([key, value]) => `        ${key}: ${value}\n`).join("");
};
const forwardOnly = (rules: string) => `${HEADER}  fwd:\n    kind: strongswan\n    noIpsec: true\n    rules:\n${rules}`;

export const CASES: Case[] = [
  // YAML itself
  { name: "tab indentation", files: { "fleet.yaml": "version: 1\nservices:\n\trouter: {}\n" }, errors: ["fleet.yaml:3 yaml-syntax"], message: "" },
  { name: "unclosed flow sequence", files: { "fleet.yaml": `${HEADER}  a:\n    kind: squid\n    allowedSources: [10.0.0.0/8\n` }, errors: ["fleet.yaml:6 yaml-syntax"], message: "" },
  // One unquoted "{" inside { } derails the parser to the end of the file: one error, at the brace, saying what to do.
  { name: "unquoted braces inside a flow mapping", files: { "fleet.yaml": `${HEADER}  a:\n    kind: squid\n    allowlist: { x: /a/{b}/c }\n    allowedSources: [10.0.0.0/8]\n    connectPorts: [443]\n` }, errors: ["fleet.yaml:5 yaml-syntax"], message: "must be quoted" },
  { name: "duplicate key", files: { "fleet.yaml": "version: 1\nversion: 1\nservices: {}\n" }, errors: ["fleet.yaml:2 yaml-syntax"], message: "unique" },
  { name: "not a mapping", files: { "fleet.yaml": "- just\n- a list\n" }, errors: ["fleet.yaml:1 schema"], message: "mapping" },
  { name: "missing fleet.yaml", files: { "other.yaml": "x: 1\n" }, errors: ["fleet.yaml:1 missing-file"], message: "not found" },
  // Top level
  { name: "wrong version", files: { "fleet.yaml": "version: 2\nservices:\n  a: { kind: haproxy, listeners: [] }\n" }, errors: ["fleet.yaml:1 schema", "fleet.yaml:3 schema"], message: "version must be 1" },
  { name: "unknown kind", files: { "fleet.yaml": `${HEADER}  a:\n    kind: envoy\n` }, errors: ["fleet.yaml:4 schema"], message: "kind must be one of" },
  { name: "bad service name", files: { "fleet.yaml": `${HEADER}  Bad_Name:\n    kind: haproxy\n    listeners:\n${listener("a", 1)}` }, errors: ["fleet.yaml:3 schema"], message: "lowercase" },
  { name: "unknown key (typo)", files: { "fleet.yaml": haproxy(listener("a", 80, "        timeout: 5s\n")) }, errors: ["fleet.yaml:9 unknown-key"], message: 'unknown key "timeout"' },
  // HAProxy
  { name: "duplicate listen port", files: { "fleet.yaml": haproxy(listener("a", 5432) + listener("b", 5432)) }, errors: ["fleet.yaml:10 duplicate-port"], message: "port 5432 is already used" },
  { name: "duplicate listener name", files: { "fleet.yaml": haproxy(listener("a", 1) + listener("a", 2)) }, errors: ["fleet.yaml:9 duplicate-name"], message: 'listener name "a"' },
  { name: "port out of range", files: { "fleet.yaml": haproxy(listener("a", 70000)) }, errors: ["fleet.yaml:7 schema"], message: "65535" },
  { name: "port as text", files: { "fleet.yaml": haproxy(listener("a", '"80"')) }, errors: ["fleet.yaml:7 schema"], message: "number" },
  { name: "backend hostname invalid", files: { "fleet.yaml": haproxy("      - name: a\n        port: 80\n        backends: [{ host: -bad-.example.com, port: 80 }]\n") }, errors: ["fleet.yaml:8 host"], message: "neither an IP address nor a valid DNS name" },
  { name: "backend hostname with space", files: { "fleet.yaml": haproxy("      - name: a\n        port: 80\n        backends: [{ host: \"db example.com\", port: 80 }]\n") }, errors: ["fleet.yaml:8 host"], message: "valid DNS name" },
  { name: "CIDR with host bits", files: { "fleet.yaml": haproxy(listener("a", 80, "        allowedSources: [10.0.0.1/8]\n")) }, errors: ["fleet.yaml:9 cidr"], message: "did you mean 10.0.0.0/8" },
  { name: "CIDR prefix too long", files: { "fleet.yaml": haproxy(listener("a", 80, "        allowedSources: [10.0.0.0/33]\n")) }, errors: ["fleet.yaml:9 cidr"], message: "prefix length above /32" },
  { name: "overlapping CIDRs", files: { "fleet.yaml": haproxy(listener("a", 80, "        allowedSources:\n          - 10.0.0.0/8\n          - 10.1.0.0/16\n")) }, errors: ["fleet.yaml:11 cidr-overlap"], message: "10.1.0.0/16 overlaps 10.0.0.0/8" },
  { name: "no backends", files: { "fleet.yaml": haproxy("      - name: a\n        port: 80\n        backends: []\n") }, errors: ["fleet.yaml:8 schema"], message: "at least one backend" },
  { name: "bad duration", files: { "fleet.yaml": haproxy(listener("a", 80, "        timeouts: { connect: 5 seconds }\n")) }, errors: ["fleet.yaml:9 schema"], message: "duration" },
  // NGINX
  { name: "nginx without listeners", files: { "fleet.yaml": nginx("    resolver: { addresses: [10.0.0.2] }\n") }, errors: ["fleet.yaml:3 no-listeners"], message: "at least one tls or http listener" },
  { name: "nginx bad server name", files: { "fleet.yaml": nginx(tlsRoute("a..example.com")) }, errors: ["fleet.yaml:8 server-name"], message: "is not a server name" },
  { name: "nginx duplicate route", files: { "fleet.yaml": nginx(tlsRoute() + "          - { match: a.example.com, upstream: { host: b.example.net, port: 443 } }\n") }, errors: ["fleet.yaml:9 duplicate-route"], message: "server name a.example.com" },
  { name: "nginx port used twice", files: { "fleet.yaml": nginx(tlsRoute() + "    http:\n      - port: 443\n        routes: [{ match: b.example.com, upstream: { host: 10.0.0.1, port: 80 } }]\n") }, errors: ["fleet.yaml:10 duplicate-port"], message: "port 443" },
  { name: "nginx proxy protocol without trusted CIDRs", files: { "fleet.yaml": nginx("    proxyProtocol: { trustedCidrs: [] }\n" + tlsRoute()) }, errors: ["fleet.yaml:5 schema"], message: "load balancer" },
  // Squid
  { name: "allowlist file missing", files: { "fleet.yaml": squid("")["fleet.yaml"] }, errors: ["fleet.yaml:5 missing-file"], message: "allow.txt does not exist" },
  { name: "allowlist wildcard everything", files: squid("", "example.com\n*\n"), errors: ["allow.txt:2 allowlist-too-broad"], message: "every domain" },
  { name: "allowlist top-level suffix", files: squid("", "example.com\n\n.com\n"), errors: ["allow.txt:3 allowlist-too-broad"], message: ".com" },
  { name: "allowlist star syntax", files: squid("", "# c\n*.example.com\n"), errors: ["allow.txt:2 allowlist-wildcard"], message: 'write ".example.com"' },
  { name: "allowlist invalid name", files: squid("", "good.example.com\nbad_name.example.com\nexa mple.com\n"), errors: ["allow.txt:2 allowlist-entry", "allow.txt:3 allowlist-entry"], message: "not a valid domain name" },
  { name: "allowlist IP address", files: squid("", "10.1.2.3\n"), errors: ["allow.txt:1 allowlist-entry"], message: "IP address" },
  { name: "allowlist empty", files: squid("", "# nothing yet\n"), errors: ["allow.txt:1 allowlist-empty"], message: "deny everything" },
  { name: "allowlist path escapes repository", files: { "fleet.yaml": `${HEADER}  e:\n    kind: squid\n    allowlist: ../etc/passwd\n    allowedSources: [10.0.0.0/8]\n` }, errors: ["fleet.yaml:5 schema"], message: "relative path" },
  { name: "squid overlapping connect ports", files: squid("    connectPorts: [443, 400-500]\n"), errors: ["fleet.yaml:7 port-overlap"], message: "400-500 overlaps 443" },
  { name: "squid reversed port range", files: squid("    connectPorts: [9000-8000]\n"), errors: ["fleet.yaml:7 port-range"], message: "low to high" },
  // strongSwan
  { name: "PSK as a literal", files: { "fleet.yaml": vpn(goodConnection({ psk: "hunter2" })) }, errors: ["fleet.yaml:7 psk-literal"], message: "must never be written in the config" },
  { name: "PSK reference of unknown shape", files: { "fleet.yaml": vpn(goodConnection({ psk: "{ vault: x }" })) }, errors: ["fleet.yaml:7 schema"], message: "ssmParameter" },
  { name: "unknown encryption algorithm", files: { "fleet.yaml": vpn(goodConnection({ ike: "{ encryption: [aes512] }" })) }, errors: ["fleet.yaml:10 schema"], message: "aes256" },
  { name: "unknown DH group", files: { "fleet.yaml": vpn(goodConnection({ esp: "{ dhGroups: [modp999] }" })) }, errors: ["fleet.yaml:10 schema"], message: "modp2048" },
  { name: "remote overlaps local", files: { "fleet.yaml": vpn(goodConnection({ remote: "{ address: 198.51.100.1, subnets: [10.0.5.0/24] }" })) }, errors: ["fleet.yaml:9 cidr-overlap"], message: "overlaps local subnet" },
  { name: "remote address is a name", files: { "fleet.yaml": vpn(goodConnection({ remote: "{ address: vpn.example.com, subnets: [192.168.0.0/16] }" })) }, errors: ["fleet.yaml:9 schema"], message: "IP address" },
  { name: "identity with a quote", files: { "fleet.yaml": vpn(goodConnection({ local: "{ id: 'a\"b', subnets: [10.0.0.0/16] }" })) }, errors: ["fleet.yaml:8 schema"], message: "may hold only" },
  { name: "icmp rule with ports", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [10.0.0.0/8], to: [192.0.2.1], protocols: [icmp], ports: [80] }\n") }, errors: ["fleet.yaml:7 ports-need-tcp-udp"], message: "icmp" },
  { name: "all-protocol rule with ports", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [10.0.0.0/8], to: [192.0.2.1], ports: [80] }\n") }, errors: ["fleet.yaml:7 ports-need-tcp-udp"], message: "all" },
  { name: "rule endpoint invalid", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [10.0.0.0/8], to: [not_a_host], protocols: [tcp] }\n") }, errors: ["fleet.yaml:7 endpoint"], message: "neither a CIDR" },
  { name: "port forward to a network", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [0.0.0.0/0], to: [192.0.2.0/24], protocols: [tcp], ports: [22], portForward: { '22': 2222 } }\n") }, errors: ["fleet.yaml:7 port-forward-target"], message: "is a network" },
  { name: "port forward source port used twice", files: { "fleet.yaml": forwardOnly("      - { name: r1, from: [0.0.0.0/0], to: [192.0.2.1], protocols: [tcp], portForward: { '22': 2222 } }\n      - { name: r2, from: [0.0.0.0/0], to: [192.0.2.2], protocols: [tcp], portForward: { '23': 2222 } }\n") }, errors: ["fleet.yaml:8 duplicate-port"], message: "forwarded source port 2222" },
  { name: "noIpsec with connections", files: { "fleet.yaml": `${HEADER}  v:\n    kind: strongswan\n    noIpsec: true\n    connections:\n      - name: dc1\n${goodConnection()}    rules: [{ name: r, from: [10.0.0.0/8], to: [192.0.2.1] }]\n` }, errors: ["fleet.yaml:6 no-ipsec-connections"], message: "noIpsec" },
  { name: "IPsec without connections", files: { "fleet.yaml": `${HEADER}  v:\n    kind: strongswan\n    rules: [{ name: r, from: [10.0.0.0/8], to: [192.0.2.1] }]\n` }, errors: ["fleet.yaml:3 no-connections"], message: "at least one connection" },
  { name: "duplicate rule names", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [10.0.0.0/8], to: [192.0.2.1] }\n      - { name: r, from: [10.0.0.0/8], to: [192.0.2.2] }\n") }, errors: ["fleet.yaml:8 duplicate-name"], message: 'rule name "r"' },
  // Durations: HAProxy refuses timers over 2147483647 ms ("timer overflow ... maximum value is 2147483647 ms or
  // ~24.8 days", haproxy -c); NGINX's resolver valid= takes whole seconds only (ngx_parse_time with is_sec).
  { name: "haproxy timeout beyond the timer limit", files: { "fleet.yaml": haproxy(listener("a", 80, "        timeouts: { client: 25d }\n")) }, errors: ["fleet.yaml:9 duration"], message: "longer than 24d" },
  { name: "health check interval beyond the timer limit", files: { "fleet.yaml": haproxy(listener("a", 80, "        healthCheck: { interval: 596524h }\n")) }, errors: ["fleet.yaml:9 duration"], message: "2147483647ms" },
  // Shrunk counterexample of the validate ⇒ daemon property: haproxy -c says "invalid value 0 for argument 'inter'".
  { name: "health check interval of zero", files: { "fleet.yaml": haproxy(listener("l0", 1, "        healthCheck: { enabled: false, interval: 0s, rise: 1, fall: 1 }\n")) }, errors: ["fleet.yaml:9 duration"], message: "0s must be longer than zero" },
  { name: "zero duration", files: { "fleet.yaml": haproxy(listener("a", 80, "        timeouts: { connect: 0s }\n")) }, errors: ["fleet.yaml:9 duration"], message: "longer than zero" },
  { name: "nginx resolver validity in milliseconds", files: { "fleet.yaml": nginx("    resolver: { addresses: [10.0.0.2], valid: 1500ms }\n" + tlsRoute()) }, errors: ["fleet.yaml:5 duration"], message: "whole seconds" },
  { name: "nginx timeout beyond the timer limit", files: { "fleet.yaml": nginx("    connectTimeout: 999999999d\n" + tlsRoute()) }, errors: ["fleet.yaml:5 duration"], message: "longer than 24d" },
  { name: "dns timeout beyond the timer limit", files: { "fleet.yaml": `version: 1\ndns: { timeout: 30d }\nservices:\n  r:\n    kind: haproxy\n    listeners:\n${listener("a", 80)}` }, errors: ["fleet.yaml:2 duration"], message: "longer than 24d" },
  { name: "strongswan lifetime in milliseconds", files: { "fleet.yaml": vpn(goodConnection({ ike: "{ lifetime: 1500ms }" })) }, errors: ["fleet.yaml:10 duration"], message: "whole seconds" },
  // NGINX map with hostnames: ".x" means x and *.x, so it conflicts with either ("conflicting parameter", nginx -t);
  // http://nginx.org/en/docs/http/server_names.html
  { name: "nginx .x next to x", files: { "fleet.yaml": nginx(tlsRoute("a.example.com") + "          - { match: .a.example.com, upstream: { host: b.example.net, port: 443 } }\n") }, errors: ["fleet.yaml:9 server-name-conflict"], message: "already means a.example.com and *.a.example.com" },
  { name: "nginx *.x next to .x", files: { "fleet.yaml": nginx(tlsRoute(".a.example.com") + "          - { match: \"*.a.example.com\", upstream: { host: b.example.net, port: 443 } }\n") }, errors: ["fleet.yaml:9 server-name-conflict"], message: "conflicts with .a.example.com" },
  { name: "nginx names equal after lowercasing", files: { "fleet.yaml": nginx(tlsRoute("A.Example.com") + "          - { match: a.example.COM, upstream: { host: b.example.net, port: 443 } }\n") }, errors: ["fleet.yaml:9 duplicate-route"], message: "a.example.com" },
  { name: "nginx server name with a trailing dot", files: { "fleet.yaml": nginx(tlsRoute("a.example.com.")) }, errors: ["fleet.yaml:8 server-name"], message: "never match" },
  { name: "nginx resolver given as a hostname", files: { "fleet.yaml": nginx("    resolver: { addresses: [dns.example.com] }\n" + tlsRoute()) }, errors: ["fleet.yaml:5 resolver"], message: "NGINX needs its resolver by address" },
  // IPv6 zone ids: nginx -t says 'invalid IPv6 address in resolver "[fe80::1%lo]"'; none of the daemons take one.
  { name: "nginx resolver with a zone id", files: { "fleet.yaml": nginx("    resolver: { addresses: [\"fe80::1%eth0\"] }\n" + tlsRoute()) }, errors: ["fleet.yaml:5 resolver"], message: "zone id (%eth0)" },
  { name: "backend with a zone id", files: { "fleet.yaml": haproxy("      - name: a\n        port: 80\n        backends: [{ host: \"fe80::1%eth0\", port: 80 }]\n") }, errors: ["fleet.yaml:8 host"], message: "zone id" },
  { name: "DNS loop resolver with a zone id", files: { "fleet.yaml": `version: 1\ndns: { resolvers: ["[fe80::1%eth0]:53"] }\nservices:\n  r:\n    kind: haproxy\n    listeners:\n${listener("a", 80)}` }, errors: ["fleet.yaml:2 dns-server"], message: "zone id (%eth0)" },
  { name: "squid nameserver with a zone id", files: squid("    dnsNameservers: [\"fe80::1%eth0\"]\n"), errors: ["fleet.yaml:7 dns-server"], message: "zone id" },
  { name: "peer address with a zone id", files: { "fleet.yaml": vpn(goodConnection({ remote: "{ address: \"fe80::1%eth0\", subnets: [192.168.0.0/16] }" })) }, errors: ["fleet.yaml:9 schema"], message: "zone id" },
  // Allowlist entries Squid would never match.
  { name: "allowlist name with two trailing dots", files: squid("", "a.example.com..\n"), errors: ["allow.txt:1 allowlist-entry"], message: "write a.example.com" },
  { name: "allowlist top-level suffix with trailing dots", files: squid("", "example.com\n.org..\n"), errors: ["allow.txt:2 allowlist-too-broad"], message: ".org" },
  { name: "allowlist of dots", files: squid("", "...\n"), errors: ["allow.txt:1 allowlist-too-broad"], message: "every domain" },
  // iptables rules are IPv4; IPv6 endpoints were silently dropped.
  { name: "IPv6 rule endpoint", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [\"2001:db8::/32\"], to: [192.0.2.1], protocols: [tcp] }\n") }, errors: ["fleet.yaml:7 endpoint"], message: "iptables (IPv4) only" },
  { name: "IPv6 port forward target", files: { "fleet.yaml": forwardOnly("      - { name: r, from: [0.0.0.0/0], to: [\"2001:db8::1\"], protocols: [tcp], portForward: { '22': 2222 } }\n") }, errors: ["fleet.yaml:7 endpoint"], message: "IPv6" },
  // Collisions.
  { name: "listener on the agent's health port", files: { "fleet.yaml": haproxy(listener("a", 8081)) }, errors: ["fleet.yaml:7 reserved-port"], message: "health check" },
  { name: "squid on the agent's health port", files: squid("    port: 8081\n"), errors: ["fleet.yaml:7 reserved-port"], message: "8081" },
  { name: "nginx on the agent's health port", files: { "fleet.yaml": nginx("    http:\n      - port: 8081\n        routes: [{ match: b.example.com, upstream: { host: 10.0.0.1, port: 80 } }]\n") }, errors: ["fleet.yaml:6 reserved-port"], message: "8081" },
  { name: "port forward stealing IKE", files: { "fleet.yaml": vpn(goodConnection(), "    rules:\n      - { name: r, from: [0.0.0.0/0], to: [192.0.2.1], protocols: [udp], portForward: { '500': 500 } }\n") }, errors: ["fleet.yaml:11 ike-port"], message: "IKE" },
  { name: "port forward stealing NAT-T", files: { "fleet.yaml": vpn(goodConnection(), "    rules:\n      - { name: r, from: [0.0.0.0/0], to: [192.0.2.1], protocols: [tcp, udp], portForward: { '53': 4500 } }\n") }, errors: ["fleet.yaml:11 ike-port"], message: "udp 4500" },
  // Messages: the project's own words, located where the problem is.
  { name: "required list missing", files: { "fleet.yaml": `${HEADER}  r:\n    kind: haproxy\n` }, errors: ["fleet.yaml:3 schema"], message: "services.r.listeners: is required: write a list" },
  { name: "wrong type", files: { "fleet.yaml": haproxy("      - name: a\n        port: 80\n        backends: [{ host: db.example.com, port: 80 }]\n        healthCheck: { enabled: yes }\n") }, errors: ["fleet.yaml:9 schema"], message: 'must be true or false, not the text "yes"' },
  { name: "value not among the allowed", files: { "fleet.yaml": haproxy(listener("a", 80, "        balance: random\n")) }, errors: ["fleet.yaml:9 schema"], message: "must be one of roundrobin, leastconn, source" },
  { name: "fractional port", files: { "fleet.yaml": haproxy(listener("a", 80.5)) }, errors: ["fleet.yaml:7 schema"], message: "must be a whole number, not 80.5" },
  { name: "YAML alias bomb", files: { "fleet.yaml": "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nservices: {}\n" }, errors: ["fleet.yaml:3 yaml-aliases"], message: "more than 100 copies" },
  { name: "YAML alias without anchor", files: { "fleet.yaml": "version: 1\nservices:\n  a: *nothing\n" }, errors: ["fleet.yaml:3 yaml-aliases"], message: "names no &nothing anchor" },
  { name: "unknown YAML tag", files: { "fleet.yaml": `${HEADER}  egress: !squid\n    kind: squid\n` }, errors: ["fleet.yaml:3 yaml-tag"], message: "!squid is not a tag" },
  { name: "two YAML documents", files: { "fleet.yaml": "version: 1\n---\nservices: {}\n" }, errors: ["fleet.yaml:2 yaml-syntax"], message: "more than one document" },
  { name: "numeric service name", files: { "fleet.yaml": `${HEADER}  a:\n    kind: haproxy\n    listeners:\n${listener("a", 1)}  123:\n    kind: haproxy\n    listeners:\n${listener("a", 1)}` }, errors: ["fleet.yaml:9 schema"], message: 'the name "123"' },
  { name: "control bytes are shown escaped", files: { "fleet.yaml": `${HEADER}  a\u0007b:\n    kind: haproxy\n    listeners:\n${listener("a", 1)}` }, errors: ["fleet.yaml:3 schema"], message: 'the name "a\\x07b"' },
  { name: "semantic problems reported next to schema problems", files: { "fleet.yaml": `${HEADER}  a:\n    kind: haproxy\n    listeners:\n${listener("a", 1)}${listener("b", 1)}  b:\n    kind: squid\n` }, errors: ["fleet.yaml:10 duplicate-port", "fleet.yaml:12 schema", "fleet.yaml:12 schema"], message: "port 1 is already used" },
  // strongSwan: several peers need the identity they all present.
  { name: "several peers without an identity", files: { "fleet.yaml": vpn(goodConnection({ remote: "{ addresses: [198.51.100.1, 198.51.100.2], subnets: [192.168.0.0/16] }" })) }, errors: ["fleet.yaml:9 remote-id"], message: "remote.id" },
  { name: "peer as address and addresses", files: { "fleet.yaml": vpn(goodConnection({ remote: "{ address: 198.51.100.1, addresses: [198.51.100.2], subnets: [192.168.0.0/16] }" })) }, errors: ["fleet.yaml:9 remote-address"], message: "exactly one of the two" },
  { name: "algorithm charon cannot use here", files: { "fleet.yaml": vpn(goodConnection({ ike: "{ integrity: [aesxcbc] }" })) }, errors: ["fleet.yaml:10 schema"], message: "xcbc plugin" },
];
