// Per-rule connection logs (`log: true` on a strongSwan rule): the rendered LOG rules pass
// iptables-restore --test (the agent's check), are applied by the agent, and log each new connection once —
// not each packet — in a three-namespace topology the test creates (client → gateway → server). The LOG
// target's packet counters show it: inside a network namespace the kernel prints nothing unless
// net.netfilter.nf_log_all_netns is set (a host-wide switch this test leaves alone), but the rules match the
// same way they do on the host, where the strongSwan task runs (host network).
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { link, type NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor } from "../../containers/agent/process.ts";
import { StrongswanAgent } from "../../containers/agent/strongswan.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { logPrefix } from "../../functions/render/iptables.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");
const NODE = process.execPath;
const sandbox = new Sandbox();
let work: { path: string; cleanup: () => Promise<void> };
let client: NetworkNamespace;
let gateway: NetworkNamespace;

const FLEET = `version: 1
services:
  edge:
    kind: strongswan
    noIpsec: true
    defaultForward: drop
    rules:
      - name: app-logged
        from: [10.96.1.0/24]
        to: [10.96.2.2]
        protocols: [tcp]
        ports: [8080]
        log: true
      - name: quiet
        from: [10.96.1.0/24]
        to: [10.96.2.2]
        protocols: [tcp]
        ports: [8081]
`;

beforeAll(async () => {
  work = await tempDir("connlog");
  await sandbox.setup(async () => {
    client = await sandbox.namespace("pflc");
    gateway = await sandbox.namespace("pflg");
    const server = await sandbox.namespace("pfls");
    await link(client, "10.96.1.2/24", gateway, "10.96.1.1/24");
    await link(gateway, "10.96.2.1/24", server, "10.96.2.2/24");
    await client.ip(["route", "add", "10.96.2.0/24", "via", "10.96.1.1"]);
    await server.ip(["route", "add", "10.96.1.0/24", "via", "10.96.2.1"]);
    expect((await run("sh", ["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], { netns: gateway.name })).code).toBe(0);
    for (const port of ["8080", "8081", "8082"]) {
      const d = sandbox.track(startDaemon(NODE, [TOOL, "serve", "10.96.2.2", port, `server-${port}`], { netns: server.name }));
      await waitFor(`server on ${port}`, () => d.output().includes("listening"), 10_000);
    }
  });
}, 60_000);

afterAll(async () => {
  await sandbox.cleanup();
  await work?.cleanup();
});

/** Packet counts of the gateway's PF-FORWARD rules, keyed by their LOG prefix or target. */
async function counters(): Promise<Map<string, number>> {
  const listed = await run("iptables", ["-t", "filter", "-L", "PF-FORWARD", "-v", "-x", "-n"], { netns: gateway.name });
  const counts = new Map<string, number>();
  for (const line of listed.stdout.split("\n").slice(2)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3) continue;
    const prefix = /prefix "([^"]*)"/.exec(line)?.[1];
    const rule = /\/\* (\S+) \*\//.exec(line)?.[1];
    const key = prefix !== undefined ? `LOG ${prefix}` : `${fields[2]} ${rule ?? "-"}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(fields[0]));
  }
  return counts;
}

const probe = async (port: number) => (await run(NODE, [TOOL, "probe", "10.96.2.2", String(port)], { netns: client.name, timeoutMs: 10_000 })).stdout.trim();

it("logs each new connection a logged rule accepts once, and the default drop's, but not a quiet rule's", async () => {
  const model = await loadOrThrow({ "fleet.yaml": FLEET });
  const bundle = renderBundle(model.services[0]!);
  const agent = await StrongswanAgent.start({ fetch: async () => bundle }, {
    bundleDir: join(work.path, "bundle"), runDir: join(work.path, "run"), netns: gateway.name, secrets: { resolve: async () => new Uint8Array() },
  });
  expect(agent.health().ok).toBe(true);
  const before = await counters();
  expect(before.get(`LOG ${logPrefix("app-logged")}`)).toBe(0);

  expect(await probe(8080)).toBe("server-8080 from 10.96.1.2");
  expect(await probe(8080)).toBe("server-8080 from 10.96.1.2");
  expect(await probe(8081)).toBe("server-8081 from 10.96.1.2");
  expect(await probe(8082)).toBe(""); // no rule: dropped

  const after = await counters();
  // Two connections on the logged rule: two log lines, one per connection accepted, though the connections
  // forwarded more packets (their later packets pass the chain's first rule, RELATED,ESTABLISHED).
  expect(after.get(`LOG ${logPrefix("app-logged")}`)).toBe(2);
  expect(after.get("ACCEPT app-logged")).toBe(2);
  expect(after.get("ACCEPT -")! - before.get("ACCEPT -")!).toBeGreaterThan(4);
  // The quiet rule forwarded its connection without a LOG rule of its own.
  expect(after.get("ACCEPT quiet")).toBeGreaterThan(0);
  expect([...after.keys()].filter((key) => key.startsWith("LOG "))).toEqual([`LOG ${logPrefix("app-logged")}`, "LOG pf:DROP "]);
  // The dropped connection's SYNs (the first and its retransmissions are all NEW): logged, then dropped.
  expect(after.get("LOG pf:DROP ")).toBeGreaterThan(0);
  expect(after.get("LOG pf:DROP ")).toBe(after.get("DROP -"));
}, 60_000);

it("names the rule in a prefix iptables accepts (29 characters at most), long names kept apart by a hash", () => {
  expect(logPrefix("app-logged")).toBe("pf:app-logged ");
  const long = logPrefix("a-very-long-rule-name-for-the-payments-backend");
  expect(long).toHaveLength(29);
  expect(long).toMatch(/^pf:a-very-long-rule-nam~[0-9a-f]{4} $/);
  expect(logPrefix("a-very-long-rule-name-for-the-payments-frontend")).not.toBe(long);
});
