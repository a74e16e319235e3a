// Squid tunnels CONNECT to allowlisted domains on allowed ports, from allowed sources, and answers 403
// to everything else — also to an allowlisted name that resolves to loopback, link-local or the AWS
// credential endpoints. Behind the NLB it requires PROXY protocol v2 from the load balancer only, judges the
// client by the header's address, and PrivateLink consumers by their VPC endpoint id.
//
// Everything runs in a network namespace the test creates, whose only interface is its loopback: it holds the
// "internet" (198.18.0.1, a benchmarking range) and the very addresses Squid must refuse (169.254.169.254,
// 169.254.170.2), each with a listener, so a refusal is Squid's doing and no packet can leave the machine.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chown, mkdir, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor } from "../../containers/agent/process.ts";
import type { ServiceModelOf } from "../../functions/fleet/load.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith } from "../../functions/render/context.ts";
import { loadOrThrow, service } from "../support/fixtures.ts";
import { awsVpceTlv, proxyV2Header } from "../support/net.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");
const CLIENT = resolve(import.meta.dirname, "../support/netns-client.ts");
const NODE = process.execPath;
// Ports inside the test's own namespace: nothing else listens there.
const PLAIN_PORT = 3128;
const BEHIND_NLB_PORT = 3129;
const TARGET_PORT = 8443;
const CLOSED_PORT = 8444;
const ANY_ADDRESS_PORT = 8445; // a listener on 0.0.0.0, which a connect to 0.0.0.0 reaches
const ALLOWED_ENDPOINT = "vpce-0a1b2c3d4e5f60718";

const sandbox = new Sandbox();
let work: { path: string; cleanup: () => Promise<void> };
let ns: NetworkNamespace;

const fleetYaml = `version: 1
services:
  egress:
    kind: squid
    port: ${PLAIN_PORT}
    allowlist: allow.txt
    allowedSources: [127.0.0.1/32]
    connectPorts: [${TARGET_PORT}, ${CLOSED_PORT}, ${ANY_ADDRESS_PORT}]
    dnsNameservers: [127.0.0.1]
  shared:
    kind: squid
    port: ${BEHIND_NLB_PORT}
    allowlist: allow.txt
    allowedSources: [10.1.0.0/16]
    allowedEndpoints: [${ALLOWED_ENDPOINT}]
    connectPorts: [${TARGET_PORT}]
    dnsNameservers: [127.0.0.1]
`;

// Names Squid resolves from its hosts_file only (udp sockets on loopback, nameserver 127.0.0.1 in the namespace).
const HOSTS = `198.18.0.1 allowed.test sub.wild.test wild.test denied.test both.test
127.0.0.5 loopback.test
169.254.169.254 metadata.test both.test
169.254.170.2 credentials.test
0.0.0.0 zero.test
::ffff:169.254.169.254 mapped.test
fd00:ec2::254 imds6.test
`;

async function startSquidIn(name: string, ctx: { proxyProtocolFrom?: string[] }): Promise<string> {
  const dir = join(work.path, name);
  const runDir = join(dir, "run");
  await mkdir(runDir, { recursive: true });
  // Squid started as root drops to its effective user, which must be able to write its run directory.
  if (userInfo().uid === 0) {
    const proxy = Number(execFileSync("id", ["-u", "proxy"]).toString().trim());
    await chown(runDir, proxy, proxy);
  }
  const model = await loadOrThrow({
    "fleet.yaml": fleetYaml,
    "allow.txt": "# test allowlist\nallowed.test\n.wild.test\nloopback.test\nmetadata.test\ncredentials.test\nboth.test\nzero.test\nmapped.test\nimds6.test\n",
  });
  const files = renderFiles(service(model, name, "squid") as ServiceModelOf<"squid">, contextWith({
    bundleDir: dir, runDir, logDir: runDir, listenAddress: "127.0.0.1", squidHostsFile: join(work.path, "hosts"), ...ctx,
  }));
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  const squid = sandbox.track(startDaemon("squid", ["-N", "-f", join(dir, "squid.conf")], { netns: ns.name }));
  const cacheLog = join(runDir, "squid-cache.log");
  await waitFor(`squid ${name} accepting`, () => existsSync(cacheLog) && readFileSync(cacheLog, "utf8").includes("Accepting HTTP"), 20_000)
    .catch((error: unknown) => {
      throw new Error(`${String(error)}\n${squid.output()}\n${existsSync(cacheLog) ? readFileSync(cacheLog, "utf8") : ""}`);
    });
  return cacheLog;
}

beforeAll(async () => {
  work = await tempDir("squid");
  await writeFile(join(work.path, "hosts"), HOSTS);
  await sandbox.setup(async () => {
    ns = await sandbox.namespace("pfsq");
    for (const address of ["198.18.0.1/32", "169.254.169.254/32", "169.254.170.2/32", "fd00:ec2::254/128"]) {
      await ns.ip(["addr", "add", address, "dev", "lo"]);
    }
    for (const [address, name] of [
      ["198.18.0.1", "tunnel-target"], ["127.0.0.5", "loopback-service"],
      ["169.254.169.254", "instance-metadata"], ["169.254.170.2", "ecs-credentials"], ["fd00:ec2::254", "ec2-metadata-ipv6"],
      ["0.0.0.0", "any-address-service"],
    ] as const) {
      const port = address === "0.0.0.0" ? ANY_ADDRESS_PORT : TARGET_PORT;
      const d = sandbox.track(startDaemon(NODE, [TOOL, "serve", address, String(port), name], { netns: ns.name }));
      await waitFor(`${name} listening`, () => d.output().includes("listening"), 10_000);
    }
    await startSquidIn("egress", {});
    await startSquidIn("shared", { proxyProtocolFrom: ["127.0.0.1/32"] });
  });
}, 60_000);

afterAll(async () => {
  await sandbox.cleanup();
  await work?.cleanup();
});

/** Sends `bytes` to Squid from inside the namespace and returns everything it answered ("" when closed). */
async function send(port: number, bytes: Buffer, localAddress?: string): Promise<string> {
  const r = await run(NODE, [CLIENT, "127.0.0.1", String(port), bytes.toString("hex"), ...(localAddress ? [localAddress] : [])], {
    netns: ns.name, timeoutMs: 10_000,
  });
  return JSON.parse(r.stdout.trim() || '""') as string;
}

const connectRequest = (authority: string) => Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
const connect = (authority: string, localAddress?: string) => send(PLAIN_PORT, connectRequest(authority), localAddress);

describe("the allowlist", () => {
  it("tunnels CONNECT to an allowlisted name", async () => {
    const reply = await connect(`allowed.test:${TARGET_PORT}`);
    expect(reply).toMatch(/^HTTP\/1.1 200/);
    expect(reply).toContain("tunnel-target from ");
  });

  it("tunnels CONNECT to a subdomain of a .suffix entry, and to the domain itself", async () => {
    expect(await connect(`sub.wild.test:${TARGET_PORT}`)).toContain("tunnel-target from ");
    expect(await connect(`wild.test:${TARGET_PORT}`)).toContain("tunnel-target from ");
  });

  it("answers 403 to a name that is not on the allowlist", async () => {
    const reply = await connect(`denied.test:${TARGET_PORT}`);
    expect(reply).toMatch(/^HTTP\/1.1 403/);
    expect(reply).not.toContain("tunnel-target");
  });

  it("answers 403 to CONNECT on a port that is not allowed, even for an allowlisted name", async () => {
    expect(await send(BEHIND_NLB_PORT, Buffer.concat([
      proxyV2Header("10.1.2.3", 40000, "10.0.0.10", BEHIND_NLB_PORT), connectRequest(`allowed.test:${CLOSED_PORT}`),
    ]))).toMatch(/^HTTP\/1.1 403/);
  });

  it("answers 403 to a client outside the allowed sources", async () => {
    expect(await connect(`allowed.test:${TARGET_PORT}`, "127.0.0.2")).toMatch(/^HTTP\/1.1 403/);
  });

  it("answers 403 to plain HTTP when no HTTP ports are allowed", async () => {
    const reply = await send(PLAIN_PORT, Buffer.from(`GET http://allowed.test:${TARGET_PORT}/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n`));
    expect(reply).toMatch(/^HTTP\/1.1 403/);
  });
});

// Issue 9.6: DNS rebinding to the task's credentials. Squid's dst ACL matches if any address of the name
// matches (squid.conf.documented, "acl aclname dst": "destination (server) IP addresses").
describe("destinations no allowlisted name may reach", () => {
  it.each([
    ["loopback.test", "127.0.0.5", "loopback-service"],
    ["metadata.test", "169.254.169.254 (instance metadata)", "instance-metadata"],
    ["credentials.test", "169.254.170.2 (ECS task credentials)", "ecs-credentials"],
  ])("answers 403 to allowlisted %s resolving to %s, though a listener answers there", async (name, _address, listener) => {
    const reply = await connect(`${name}:${TARGET_PORT}`);
    expect(reply).toMatch(/^HTTP\/1.1 403/);
    expect(reply).not.toContain(listener);
  });

  it.each([
    ["zero.test", "0.0.0.0 (this host)", ANY_ADDRESS_PORT, "any-address-service"],
    ["mapped.test", "::ffff:169.254.169.254 (IPv4-mapped metadata)", TARGET_PORT, "instance-metadata"],
    ["imds6.test", "fd00:ec2::254 (EC2 IPv6 metadata)", TARGET_PORT, "ec2-metadata-ipv6"],
  ])("answers 403 to allowlisted %s resolving to %s", async (name, _address, port, listener) => {
    const reply = await connect(`${name}:${port}`);
    expect(reply).toMatch(/^HTTP\/1.1 403/);
    expect(reply).not.toContain(listener);
  });

  it("answers 403 when only one of a name's addresses is forbidden", async () => {
    const reply = await connect(`both.test:${TARGET_PORT}`);
    expect(reply).toMatch(/^HTTP\/1.1 403/);
    expect(reply).not.toContain("instance-metadata");
    expect(reply).not.toContain("tunnel-target");
  });

  it("answers 403 to an IP-literal CONNECT to the metadata address", async () => {
    const reply = await connect(`169.254.169.254:${TARGET_PORT}`);
    expect(reply).toMatch(/^HTTP\/1.1 403/);
    expect(reply).not.toContain("instance-metadata");
  });
});

// PROXY v2 from the NLB: squid.conf.documented, "http_port … require-proxy-header" and "proxy_protocol_access"
// ("A deny match results in TCP connection closure"; after an allow, the header's source is used "for all
// future ACL checks"). AWS: Network Load Balancer target groups, "Proxy protocol" (docs.aws.amazon.com/
// elasticloadbalancing/latest/network/edit-target-group-attributes.html#proxy-protocol): the VPC endpoint id
// arrives in TLV type 0xEA, subtype 0x01.
describe("behind the load balancer", () => {
  const viaNlb = (source: string, tlvs?: Buffer, localAddress?: string) =>
    send(BEHIND_NLB_PORT, Buffer.concat([
      proxyV2Header(source, 40000, "10.0.0.10", BEHIND_NLB_PORT, tlvs), connectRequest(`allowed.test:${TARGET_PORT}`),
    ]), localAddress);

  it("judges the client by the address in the PROXY header", async () => {
    expect(await viaNlb("10.1.2.3")).toContain("tunnel-target from ");
    expect(await viaNlb("192.168.1.1")).toMatch(/^HTTP\/1.1 403/);
  });

  it("closes a connection without a PROXY header", async () => {
    expect(await send(BEHIND_NLB_PORT, connectRequest(`allowed.test:${TARGET_PORT}`))).toBe("");
  });

  it("closes a connection whose PROXY header comes from anyone but the load balancer", async () => {
    expect(await viaNlb("10.1.2.3", undefined, "127.0.0.2")).toBe("");
  });

  it("admits a PrivateLink consumer by its VPC endpoint id, whatever its client address", async () => {
    expect(await viaNlb("192.168.1.1", awsVpceTlv(ALLOWED_ENDPOINT))).toContain("tunnel-target from ");
  });

  it("refuses any other endpoint, even with a client address the allowlist admits", async () => {
    expect(await viaNlb("10.1.2.3", awsVpceTlv("vpce-0fffffffffffffff0"))).toMatch(/^HTTP\/1.1 403/);
  });
});
