// validate ⇒ daemon accepts: fast-check writes fleet.yaml files of every kind (every field, edge values), and
// whatever `fleet validate` accepts must pass the real daemons' own checks once rendered. PROPERTY_RUNS sets the
// number of fleets (default 25, each with one service of every kind); a nightly-size run: PROPERTY_RUNS=500.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startCharon, type Charon } from "../../containers/agent/charon.ts";
import { checkHaproxy, checkIptables, checkNginx, checkSquid, loadSwanctl, type CheckResult } from "../../containers/agent/checks.ts";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import { DH_GROUPS, ENCRYPTION, INTEGRITY } from "../../functions/fleet/algorithms.ts";
import { AGENT_HEALTH_PORT, IKE_PORTS } from "../../functions/fleet/listeners.ts";
import { loadFleet, type FleetModel } from "../../functions/fleet/load.ts";
import { MemoryTree } from "../../functions/fleet/tree.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { contextWith, type ResolvedTargets } from "../../functions/render/context.ts";
import { SECRETS_DIR, renderSwanctlSecrets } from "../../functions/render/strongswan.ts";
import { tempDir } from "../support/tmp.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 25);

// ---- values -------------------------------------------------------------------------------------------------

/**
 * Now and then a value just past what the daemons take, so the property also tests validation's edges: what
 * validate lets through must still pass every check (what it refuses is skipped).
 */
const sometimes = <T, U>(usual: fc.Arbitrary<T>, edge: fc.Arbitrary<U>) => fc.oneof({ arbitrary: usual, weight: 400 }, { arbitrary: edge, weight: 1 });

/** A name (listener, connection, rule, service) up to the 48 characters allowed, unique by its prefix. */
const nameWith = (prefix: string) => fc.stringMatching(/^[a-z0-9-]{0,47}$/).map((rest) => `${prefix}-${rest}`.slice(0, 48));

const port = sometimes(fc.oneof(fc.constantFrom(1, 65535), fc.integer({ min: 1, max: 65535 })), fc.constantFrom(AGENT_HEALTH_PORT, ...IKE_PORTS));
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const dnsName = fc.domain().filter((d) => !/^[0-9.]+$/.test(d));
const host = sometimes(fc.oneof(ipv4, ipv6, dnsName), fc.constantFrom("fe80::1%eth0", "db.example.com.", "a..example.com"));

/** Durations up to the longest timer the daemons take, in every unit, with the edges (1 and the maximum) favoured. */
const duration = (wholeSeconds = false) => sometimes(
  fc.oneof(
    fc.constantFrom(...(wholeSeconds ? [] : ["2147483647ms", "1ms"]), "2147483s", "35791m", "596h", "24d", "1s"),
    fc.tuple(fc.constantFrom(...(wholeSeconds ? [] : ["ms" as const]), "s" as const, "m" as const, "h" as const, "d" as const), fc.nat())
      .map(([unit, n]) => {
        const max = { ms: 2_147_483_647, s: 2_147_483, m: 35_791, h: 596, d: 24 }[unit];
        return `${(n % max) + 1}${unit}`;
      }),
  ),
  fc.constantFrom("0s", "2147483648ms", "25d", "999999999d", "1500ms", "596524h"),
);

/** Distinct, non-overlapping IPv4 /16s and IPv6 /48s (10.<n>.0.0/16, 2001:db8:<n>::/48). */
const cidrs = (maxLength: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength }).chain((octets) =>
    fc.tuple(...octets.map((o) => fc.constantFrom(`10.${o}.0.0/16`, `2001:db8:${o.toString(16)}::/48`))));

/** Non-overlapping ports and ranges ("443", "8000-8100", "443-443"). */
const portList = (minLength: number, maxLength: number) =>
  fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: minLength * 2, maxLength: maxLength * 2 }).map((values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const list: Array<number | string> = [];
    for (let i = 0; i + 1 < sorted.length; i += 2) list.push(i % 4 === 0 ? sorted[i]! : `${sorted[i]}-${sorted[i + 1]}`);
    return list;
  });

const target = fc.record({ host, port });

// ---- services -----------------------------------------------------------------------------------------------

const haproxy = fc.uniqueArray(port, { minLength: 1, maxLength: 12 }).chain((ports) =>
  fc.tuple(...ports.map((p, i) => fc.record({
    name: nameWith(`l${i}`),
    port: fc.constant(p),
    backends: fc.uniqueArray(target, { minLength: 1, maxLength: 4, selector: (t) => `${t.host}:${t.port}` }),
    balance: fc.constantFrom("roundrobin", "leastconn", "source"),
    healthCheck: fc.record({ enabled: fc.boolean(), interval: duration(), rise: fc.integer({ min: 1, max: 100 }), fall: fc.integer({ min: 1, max: 100 }) }),
    timeouts: fc.record({ connect: duration(), client: duration(), server: duration() }),
    allowedSources: cidrs(4),
    maxConnections: fc.integer({ min: 1, max: 1_000_000 }),
  }, { requiredKeys: ["name", "port", "backends"] }))))
  .map((listeners) => ({ kind: "haproxy", listeners }));

/** Server names without conflicts: each base name appears once, as x, .x or *.x. */
const routes = fc.uniqueArray(dnsName, { minLength: 1, maxLength: 6 }).chain((names) =>
  fc.tuple(...names.map((n) => fc.record({ match: sometimes(fc.constantFrom(n, `.${n}`, `*.${n}`, n.toUpperCase()), fc.constantFrom(`${n}.`, `.${names[0]}`, names[0]!)), upstream: target }))));

const nginxListener = (p: number) => fc.record({ port: fc.constant(p), routes, default: target }, { requiredKeys: ["port", "routes"] });

const nginx = fc.uniqueArray(port, { minLength: 1, maxLength: 4 }).chain((ports) => {
  const split = Math.ceil(ports.length / 2);
  return fc.record({
    kind: fc.constant("nginx"),
    resolver: fc.record({
      addresses: fc.array(sometimes(fc.oneof(ipv4, ipv6), fc.constantFrom("dns.example.com", "fe80::1%eth0")), { minLength: 1, maxLength: 3 }),
      valid: duration(true), timeout: duration(), ipv6: fc.boolean(),
    }),
    proxyProtocol: fc.record({ enabled: fc.boolean(), trustedCidrs: cidrs(3).filter((c) => c.length > 0) }),
    access: fc.record({ allow: cidrs(3), deny: cidrs(3) }),
    tls: fc.tuple(...ports.slice(0, split).map(nginxListener)),
    http: fc.tuple(...ports.slice(split).map(nginxListener)),
    connectTimeout: duration(),
  }, { requiredKeys: ["kind"] }).filter((s) => (s.tls?.length ?? 0) + (s.http?.length ?? 0) > 0);
});

/** Allowlist lines: names and .suffixes (each with at least two labels), a root dot now and then, comments. */
const allowlist = fc.uniqueArray(dnsName, { minLength: 1, maxLength: 20 }).chain((names) =>
  fc.tuple(...names.map((n) => sometimes(fc.constantFrom(n, `.${n}`, `${n}.`, `${n.toUpperCase()}  # why`), fc.constantFrom(`${n}..`, `.${n.split(".").pop()}..`, `.${n.split(".").pop()}`)))))
  .map((lines) => `# generated\n${lines.join("\n")}\n`);

const squid = fc.record({
  kind: fc.constant("squid"),
  port,
  allowlist: fc.constant("allow.txt"),
  allowedSources: cidrs(4).filter((c) => c.length > 0),
  connectPorts: portList(1, 5),
  httpPorts: portList(0, 3),
  dnsNameservers: fc.array(fc.oneof(ipv4, ipv6), { maxLength: 3 }),
  allowedEndpoints: fc.array(fc.stringMatching(/^vpce-[0-9a-f]{8,17}$/), { minLength: 1, maxLength: 3 }),
}, { requiredKeys: ["kind", "allowlist", "allowedSources"] });

const identity = fc.oneof(dnsName, ipv4, fc.stringMatching(/^[A-Za-z0-9@.:=,_ /+*-]{1,64}$/), dnsName.map((d) => `vpn@${d}`));
const subset = <T>(values: readonly T[]) => fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 4 });
const proposal = (lifetime: string) => fc.record({
  encryption: subset(ENCRYPTION), integrity: subset(INTEGRITY), dhGroups: subset(DH_GROUPS), [lifetime]: duration(true),
}, { requiredKeys: [] });

const connection = (i: number) => fc.record({
  name: nameWith(`c${i}`),
  ikeVersion: fc.constantFrom(1, 2),
  psk: fc.constantFrom({ ssmParameter: "/vpn/psk" }, { secretsManager: "vpn/psk" }),
  local: fc.record({ id: identity, subnets: fc.constant([`10.${i}.0.0/16`]) }, { requiredKeys: ["subnets"] }),
  remote: fc.oneof(
    fc.record({ address: fc.oneof(ipv4, ipv6), id: identity, subnets: fc.constant([`192.168.${i}.0/24`]) }, { requiredKeys: ["address", "subnets"] }),
    fc.record({ addresses: fc.uniqueArray(fc.oneof(ipv4, ipv6), { minLength: 2, maxLength: 3 }), id: identity, subnets: fc.constant([`192.168.${i}.0/24`, `172.16.${i}.0/24`]) }),
  ),
  ike: proposal("lifetime"),
  esp: proposal("lifetime"),
  startAction: fc.constantFrom("start", "trap", "none"),
  dpdDelay: duration(true),
  forceUdpEncapsulation: fc.boolean(),
}, { requiredKeys: ["name", "psk", "local", "remote"] });

const endpoint = sometimes(fc.oneof(ipv4, ipv4.map((a) => `${a.split(".").slice(0, 2).join(".")}.0.0/16`), dnsName), fc.constantFrom("2001:db8::1", "2001:db8::/32"));

const rule = (i: number, sourcePort: number) => fc.oneof(
  fc.record({
    name: nameWith(`r${i}`), from: fc.array(endpoint, { minLength: 1, maxLength: 3 }), to: fc.array(endpoint, { minLength: 1, maxLength: 3 }),
    protocols: fc.constantFrom(["all"], ["icmp"], ["tcp", "icmp"], ["all", "tcp"]), masquerade: fc.boolean(),
  }, { requiredKeys: ["name", "from", "to"] }),
  fc.record({
    name: nameWith(`r${i}`), from: fc.array(endpoint, { minLength: 1, maxLength: 3 }), to: fc.array(endpoint, { minLength: 1, maxLength: 3 }),
    protocols: fc.constantFrom(["tcp"], ["udp"], ["tcp", "udp"]), ports: fc.oneof(fc.constant("all"), portList(1, 20)), masquerade: fc.boolean(),
  }, { requiredKeys: ["name", "from", "to", "protocols"] }),
  fc.record({
    name: nameWith(`r${i}`), from: fc.array(endpoint, { minLength: 1, maxLength: 2 }), to: fc.array(fc.oneof(ipv4, dnsName), { minLength: 1, maxLength: 2 }),
    protocols: fc.constantFrom(["tcp"], ["udp"], ["tcp", "udp"]), masquerade: fc.boolean(),
    portForward: fc.record({ [String(sourcePort === 1 ? 2 : 1)]: fc.constant(sourcePort) }),
  }, { requiredKeys: ["name", "from", "to", "protocols", "portForward"] }),
);

const strongswan = fc.tuple(
  fc.boolean(),
  fc.integer({ min: 1, max: 3 }),
  fc.uniqueArray(port, { minLength: 0, maxLength: 6 }),
).chain(([noIpsec, connectionCount, forwardPorts]) => fc.record({
  kind: fc.constant("strongswan"),
  noIpsec: fc.constant(noIpsec),
  connections: noIpsec ? fc.constant([]) : fc.tuple(...Array.from({ length: connectionCount }, (_, i) => connection(i))),
  rules: fc.tuple(...(forwardPorts.length || !noIpsec ? forwardPorts : [1234]).map((p, i) => rule(i, p))),
  defaultForward: fc.constantFrom("drop", "accept"),
}, { requiredKeys: ["kind", "noIpsec", "connections", "rules"] }));

const fleet = fc.record({
  services: fc.tuple(nameWith("haproxy"), nameWith("nginx"), nameWith("squid"), nameWith("strongswan"), haproxy, nginx, squid, strongswan)
    .map(([a, b, c, d, ...kinds]) => Object.fromEntries([a, b, c, d].map((key, i) => [key, kinds[i]]))),
  allowlist,
  resolved: fc.boolean(),
});

// ---- checks -------------------------------------------------------------------------------------------------

let work: { path: string; cleanup: () => Promise<void> };
let netns: NetworkNamespace;
let charon: Charon;

beforeAll(async () => {
  work = await tempDir("validate-accepts");
  netns = await NetworkNamespace.create("pfprop");
  charon = await startCharon({ dir: join(work.path, "charon"), netns: netns.name });
});

afterAll(async () => {
  await charon?.stop();
  await netns?.destroy();
  await work?.cleanup();
});

/** Every DNS name the model mentions, resolved to documentation addresses when the run says so. */
function targetsFor(model: FleetModel, resolved: boolean): ResolvedTargets {
  if (!resolved) return {};
  const names = JSON.stringify(model).match(/"[a-z0-9-]+(\.[a-z0-9-]+)+"/g) ?? [];
  return Object.fromEntries(names.map((quoted) => [quoted.slice(1, -1), ["192.0.2.10", "2001:db8::10"]]));
}

/** Renders each service as the container would (loopback, a run directory of its own) and runs its daemon's check. */
async function checkAll(model: FleetModel, dir: string, targets: ResolvedTargets, checked: Map<string, number>): Promise<string[]> {
  const failures: string[] = [];
  for (const service of model.services) {
    const serviceDir = join(dir, service.name);
    const runDir = join(serviceDir, "run");
    await mkdir(join(runDir, SECRETS_DIR), { recursive: true });
    const bundle = renderBundle(service, contextWith({ bundleDir: serviceDir, runDir, logDir: runDir, listenAddress: "127.0.0.1", targets }));
    for (const [file, content] of Object.entries(bundle.files)) await writeFile(join(serviceDir, file), content);
    const results: Array<[string, CheckResult]> = [];
    switch (service.kind) {
      case "haproxy": results.push(["haproxy.cfg", await checkHaproxy(join(serviceDir, "haproxy.cfg"))]); break;
      case "nginx": results.push(["nginx.conf", await checkNginx(join(serviceDir, "nginx.conf"), runDir)]); break;
      case "squid": results.push(["squid.conf", await checkSquid(join(serviceDir, "squid.conf"))]); break;
      case "strongswan":
        results.push(["iptables.rules", await checkIptables(bundle.files["iptables.rules"]!, netns.name)]);
        if (!service.noIpsec) {
          const keys = Object.fromEntries(service.connections.map((c) => [c.name, Buffer.from(`property-${c.name}`)]));
          await writeFile(join(runDir, SECRETS_DIR, "local.conf"), renderSwanctlSecrets(service, keys), { mode: 0o600 });
          results.push(["swanctl.conf", await loadSwanctl(join(serviceDir, "swanctl.conf"), charon.viciUri, netns.name, charon.env)]);
        }
        break;
    }
    for (const [file, result] of results) {
      checked.set(file, (checked.get(file) ?? 0) + 1);
      if (!result.ok) failures.push(`${service.name}/${file}:\n${result.output}`);
    }
  }
  return failures;
}

describe("validate ⇒ daemon accepts", () => {
  it(`every generated config fleet validate accepts passes haproxy -c, nginx -t, squid -k parse, iptables-restore --test and swanctl (${RUNS} fleets)`, async () => {
    let accepted = 0;
    let run = 0;
    const checked = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fleet, async (generated) => {
        const { allowlist: list, resolved, services } = generated;
        const text = stringify({ version: 1, services });
        const result = await loadFleet(new MemoryTree({ "fleet.yaml": text, "allow.txt": list }));
        // The generators aim at valid configs; what validate refuses is outside this property.
        fc.pre(result.ok);
        if (!result.ok) return;
        accepted++;
        const dir = join(work.path, `run-${run++}`);
        const failures = await checkAll(result.model, dir, targetsFor(result.model, resolved), checked);
        if (process.env.PROPERTY_SHOW && run === 1) console.log(text, list);
        if (!process.env.PROPERTY_SHOW) await rm(dir, { recursive: true, force: true });
        expect(failures, `fleet.yaml:\n${text}\nallow.txt:\n${list}\n${failures.join("\n")}`).toEqual([]);
      }),
      { numRuns: RUNS, maxSkipsPerRun: 100, ...(process.env.PROPERTY_SEED ? { seed: Number(process.env.PROPERTY_SEED) } : {}) },
    );
    expect(accepted).toBe(RUNS);
    // Every daemon check ran (swanctl whenever a generated strongSwan service uses IPsec).
    expect([...checked.keys()].sort()).toEqual(["haproxy.cfg", "iptables.rules", "nginx.conf", "squid.conf", "swanctl.conf"]);
    expect(checked.get("haproxy.cfg")).toBe(RUNS);
  }, 600_000);
});
