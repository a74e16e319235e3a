// The local VPN: the example's strongSwan service on an "instance" namespace holding the persistent address, a
// simulated peer site per connection, tunnel states on the status board, and the heal drill (instance lost,
// healed by the heal loop on namespace-backed ports, traffic through the tunnels again). Root and namespaces;
// run under flock /tmp/proxy-fleet-dataplane.lock.
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseListSas } from "../../containers/agent/metrics.ts";
import { run, waitFor } from "../../containers/agent/process.ts";
import type { ServiceModelOf } from "../../functions/fleet/load.ts";
import { StatusBoard, type TunnelStatus } from "../../functions/local/status.ts";
import { startLocalVpn, type LocalVpn } from "../../functions/local/vpn.ts";
import { PEER_DPD_GIVE_UP_MS, drillDeadlineMs, firstHost, mirrorService, readTunnel, vpnLayout } from "../../functions/local/vpn-model.ts";
import { parseCidr } from "../../functions/fleet/net.ts";
import { EXAMPLES_DIR, loadExample, loadOrThrow, service } from "../support/fixtures.ts";
import { tempDir } from "../support/tmp.ts";

type Strongswan = ServiceModelOf<"strongswan">;

const TOOL = resolve(import.meta.dirname, "../support/tcp-tool.ts");

async function example(): Promise<Strongswan> {
  return service(await loadExample(), "datacenter-vpn", "strongswan");
}

describe("the local VPN's layout (pure)", () => {
  it("puts each peer at its connection's first remote address, probing between the first hosts of the protected networks", async () => {
    const layout = vpnLayout(await example());
    expect(layout.peers).toEqual([
      { connection: "dc1", address: "198.51.100.7", host: "192.168.10.1", hosts: ["192.168.10.1", "192.168.20.1"], target: "10.20.0.1" },
      { connection: "dc2-legacy", address: "203.0.113.20", host: "172.20.0.1", hosts: ["172.20.0.1"], target: "10.20.0.1" },
    ]);
    expect(layout.targets).toEqual(["10.20.0.1"]);
    // RFC 5737 TEST-NET-1, outside every subnet and peer of the service.
    expect(layout.persistentAddress).toBe("192.0.2.1");
  });

  it("takes the persistent address from what the connections leave free", async () => {
    const model = await loadOrThrow({ "fleet.yaml": `version: 1
services:
  vpn:
    kind: strongswan
    connections:
      - name: edge
        psk: { ssmParameter: /psk }
        local: { subnets: [192.0.2.0/31] }
        remote: { address: 192.0.2.2, subnets: [10.1.0.0/16] }
` });
    expect(vpnLayout(service(model, "vpn", "strongswan")).persistentAddress).toBe("192.0.2.3");
  });

  it("refuses what it cannot simulate, naming the service and every connection at fault", async () => {
    const model = await loadOrThrow({ "fleet.yaml": `version: 1
services:
  vpn:
    kind: strongswan
    connections:
      - name: six
        psk: { ssmParameter: /psk }
        local: { subnets: [10.1.0.0/16] }
        remote: { address: "2001:db8::1", subnets: [10.2.0.0/16] }
      - name: v6only
        psk: { ssmParameter: /psk }
        local: { subnets: ["2001:db8:1::/48"] }
        remote: { address: 198.51.100.1, subnets: [10.3.0.0/16] }
      - name: again
        psk: { ssmParameter: /psk }
        local: { subnets: [10.1.0.0/16] }
        remote: { address: 198.51.100.1, subnets: [10.4.0.0/16] }
  ports:
    kind: strongswan
    noIpsec: true
    rules:
      - { name: web, from: [10.0.0.0/8], to: [10.9.9.9], protocols: [tcp], ports: [443] }
` });
    expect(() => vpnLayout(service(model, "vpn", "strongswan"))).toThrow(
      "strongSwan service vpn cannot run in the local VPN:\n" +
        "  - connection six: the local VPN simulates IPv4 peers only, not 2001:db8::1\n" +
        "  - connection v6only: the local VPN simulates IPv4 networks only, not local.subnets 2001:db8:1::/48\n" +
        "  - connection again: another connection already has the peer 198.51.100.1",
    );
    expect(() => vpnLayout(service(model, "ports", "strongswan"))).toThrow("noIpsec: true: there is no tunnel to run");
  });

  it("finds the first host of a network, and the address itself for /31 and /32", () => {
    const host = (text: string) => {
      const parsed = parseCidr(text);
      if (!parsed.ok) throw new Error(parsed.reason);
      return firstHost(parsed.cidr);
    };
    expect(host("10.20.0.0/16")).toBe("10.20.0.1");
    expect(host("192.0.2.4/31")).toBe("192.0.2.4");
    expect(host("192.0.2.9/32")).toBe("192.0.2.9");
    expect(host("2001:db8::/64")).toBeUndefined();
  });

  it("mirrors a connection for its peer site: identities, subnets and addresses swapped, proposals kept", async () => {
    const vpn = await example();
    const dc1 = vpn.connections.find((c) => c.name === "dc1")!;
    const mirror = mirrorService(vpn, dc1, "192.0.2.1");
    expect(mirror).toMatchObject({ kind: "strongswan", noIpsec: false, rules: [], defaultForward: "accept" });
    expect(mirror.connections).toEqual([{
      ...dc1,
      local: { id: "dc1-gw.corp.example.com", subnets: ["192.168.10.0/24", "192.168.20.0/24"] },
      remote: { addresses: ["192.0.2.1"], id: "vpn.aws.example.com", subnets: ["10.20.0.0/16"] },
      // The service initiates (start): its peer waits.
      startAction: "none",
    }]);
    // Without identities each end is known by its address: none is invented.
    const dc2 = vpn.connections.find((c) => c.name === "dc2-legacy")!;
    const [mirrored] = mirrorService(vpn, dc2, "192.0.2.1").connections;
    expect(mirrored!.local).toEqual({ subnets: ["172.20.0.0/16"] });
    expect(mirrored!.remote).toEqual({ addresses: ["192.0.2.1"], subnets: ["10.20.0.0/16"] });
    // A trap never fires on kernel-libipsec: the service's side initiates it, the peer waits.
    expect(mirrored!.startAction).toBe("none");
  });

  it("gives the drill a minute, plus the peer's DPD give-up for a connection that waits for its peer", async () => {
    const vpn = await example();
    expect(drillDeadlineMs(vpn)).toBe(60_000);
    // strongSwan's retransmission table: with 3 tries, the give-up comes 4 + 7.2 + 12.96 + 23.328 s after the first send.
    expect(PEER_DPD_GIVE_UP_MS).toBe(47_488);
    const waiting = { ...vpn, connections: [{ ...vpn.connections[0]!, startAction: "none" as const, dpdDelay: "10s" }, { ...vpn.connections[1]!, startAction: "none" as const }] };
    expect(drillDeadlineMs(waiting)).toBe(60_000 + 30_000 + 47_488);
  });

  it("reads a connection's tunnel from swanctl --list-sas --raw: up, connecting, down", () => {
    // Shapes as charon 5.9.8 prints them (see test/agent/metrics.test.ts).
    const sa = (ikeState: string, child?: string) =>
      `list-sa event {dc1 {uniqueid=3 version=2 state=${ikeState} local-host=192.0.2.1 remote-host=198.51.100.7 ` +
      `child-sas {${child ? `dc1-4 {name=dc1 uniqueid=4 reqid=1 state=${child} mode=TUNNEL protocol=ESP}` : ""}}}}\nlist-sas reply {}\n`;
    expect(readTunnel(parseListSas(sa("ESTABLISHED", "INSTALLED")), "dc1")).toEqual({ state: "up", detail: "IKE ESTABLISHED; CHILD dc1 INSTALLED" });
    expect(readTunnel(parseListSas(sa("ESTABLISHED", "INSTALLING")), "dc1")).toEqual({ state: "connecting", detail: "IKE ESTABLISHED; CHILD dc1 INSTALLING" });
    expect(readTunnel(parseListSas(sa("CONNECTING")), "dc1")).toEqual({ state: "connecting", detail: "IKE CONNECTING" });
    expect(readTunnel(parseListSas(sa("ESTABLISHED", "INSTALLED")), "dc2-legacy")).toEqual({ state: "down", detail: "no IKE SA" });
    expect(readTunnel(parseListSas("list-sas reply {}\n"), "dc1")).toEqual({ state: "down", detail: "no IKE SA" });
  });
});

it("refuses to start without root, saying why", async () => {
  // The same call as nobody (uid 65534): it must fail before creating anything.
  const script = `import(${JSON.stringify(resolve(import.meta.dirname, "../../functions/local/vpn.ts"))}).then(async ({ startLocalVpn }) => {
    await startLocalVpn({ kind: "strongswan", name: "vpn", noIpsec: false, connections: [], rules: [], defaultForward: "drop" }, { board: undefined, workDir: "/nonexistent", hosts: {} });
  }).catch((error) => { console.log(error.message); });`;
  const r = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--input-type=module", "-e", script], { timeoutMs: 20_000 });
  expect(r.stdout.trim()).toBe("the local VPN for vpn needs root: it creates network namespaces and runs charon and iptables in them");
});

describe("the local VPN on namespaces (root)", () => {
  const board = new StatusBoard();
  const history: TunnelStatus[] = [];
  board.on("change", (status) => {
    for (const tunnel of status.tunnels) {
      const last = history.findLast((t) => t.connection === tunnel.connection);
      if (!last || last.state !== tunnel.state || last.detail !== tunnel.detail) history.push(tunnel);
    }
  });
  let vpn: LocalVpn | undefined;
  let work: { path: string; cleanup: () => Promise<void> };
  let before: { namespaces: string; links: string };
  let layout: ReturnType<typeof vpnLayout>;

  const machine = async () => ({
    namespaces: (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith("pfvpn-")).sort().join("\n"),
    links: (await run("ip", ["-o", "link"])).stdout.split("\n").map((l) => l.split(":")[1]?.trim()).filter(Boolean).sort().join("\n"),
  });
  const tunnel = (connection: string) => board.snapshot().tunnels.find((t) => t.service === "datacenter-vpn" && t.connection === connection);
  const peerNamespace = async (index: number) => {
    const names = (await run("ip", ["netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]!);
    return names.find((n) => new RegExp(`^pfvpn-[0-9a-z]+-p${index}$`).test(n))!;
  };
  /** From the peer site's protected host to the service's, on the probe port the instance answers (7). */
  const probe = async (index: number) => {
    const peer = layout.peers[index]!;
    const r = await run(process.execPath, [TOOL, "probe", peer.target, "7", peer.host], { netns: await peerNamespace(index + 1) });
    return r.stdout.trim();
  };
  const probeUntil = async (index: number, expected: RegExp) => {
    let last = "";
    await waitFor(`traffic through ${layout.peers[index]!.connection} (last answer "${last}")`, async () => expected.test((last = await probe(index))), 30_000);
    return last;
  };

  beforeAll(async () => {
    work = await tempDir("vpn");
    before = await machine();
    const vpnService = await example();
    layout = vpnLayout(vpnService);
    const hosts = parseYaml(await readFile(join(EXAMPLES_DIR, "local-hosts.yaml"), "utf8")) as Record<string, string[]>;
    vpn = await startLocalVpn(vpnService, { board, workDir: work.path, hosts });
  }, 60_000);

  afterAll(async () => {
    await vpn?.stop();
    await work?.cleanup();
  });

  it("brings the example's tunnels up on the board and carries traffic from each peer's network to the service's", async () => {
    // dc1 starts at once (startAction start); dc2-legacy is trapped, which kernel-libipsec cannot fire: the local
    // VPN initiates it after the load.
    await waitFor("dc1 up on the board", () => tunnel("dc1")?.state === "up", 20_000);
    expect(tunnel("dc1")!.detail).toMatch(/^IKE ESTABLISHED; CHILD dc1 INSTALLED/);
    expect(await probeUntil(0, /on i-local-/)).toMatch(/^datacenter-vpn on i-local-[0-9a-z]+-1 from 192\.168\.10\.1$/);
    expect(await probeUntil(1, /on i-local-/)).toMatch(/^datacenter-vpn on i-local-[0-9a-z]+-1 from 172\.20\.0\.1$/);
    await waitFor("dc2-legacy up on the board", () => tunnel("dc2-legacy")?.state === "up", 10_000);
    // IKEv1 gets one CHILD SA per subnet pair (the renderer names them <connection>-<local>-<remote>).
    expect(tunnel("dc2-legacy")!.detail).toContain("CHILD dc2-legacy-1-1 INSTALLED");
    // The persistent address is on the instance, not on the subnet: the heal loop attached it at start.
    const instance = (await run("ip", ["netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]!).find((n) => /-i1$/.test(n))!;
    expect((await run("ip", ["-n", instance, "-o", "addr", "show"])).stdout).toContain(`inet ${layout.persistentAddress}/32`);
    const events = board.snapshot().events.map((e) => e.message);
    expect(events.some((m) => /attach, associate-eip, disable-source-dest-check/.test(m))).toBe(true);
  }, 60_000);

  it("heals a lost instance: tunnels down, the ENI moved to a replacement, tunnels up and carrying traffic again", async () => {
    const mark = history.length;
    const drill = vpn!.loseInstance();
    await expect(vpn!.loseInstance()).rejects.toThrow("a heal drill of datacenter-vpn is already running");
    const { lossToTunnelUpMs } = await drill;
    expect(lossToTunnelUpMs).toBeGreaterThan(0);
    const during = history.slice(mark).filter((t) => t.connection === "dc1").map((t) => t.state);
    expect(during[0]).toBe("down");
    expect(during).toContain("up");
    expect(during.indexOf("up")).toBeGreaterThan(during.indexOf("down"));
    // The replacement (instance 2) answers now; the dead one's namespace is gone.
    expect(await probeUntil(0, /on i-local-/)).toMatch(/^datacenter-vpn on i-local-[0-9a-z]+-2 from 192\.168\.10\.1$/);
    expect(await probeUntil(1, /on i-local-/)).toMatch(/^datacenter-vpn on i-local-[0-9a-z]+-2 from 172\.20\.0\.1$/);
    const namespaces = (await run("ip", ["netns", "list"])).stdout;
    expect(namespaces).not.toMatch(/-i1\b/);
    expect(namespaces).toMatch(/-i2\b/);
    const replacement = namespaces.split("\n").map((l) => l.split(" ")[0]!).find((n) => /-i2$/.test(n))!;
    expect((await run("ip", ["-n", replacement, "-o", "addr", "show"])).stdout).toContain(`inet ${layout.persistentAddress}/32`);
    // Every step of the drill is on the board, in order, with its time since the loss.
    const steps = board.snapshot().events.filter((e) => e.source === "heal").map((e) => e.message).reverse();
    const order = ["detection", "namespace start", "ENI attach (detach", "service start", "IKE up", "traffic through every tunnel"];
    const positions = order.map((name) => steps.findIndex((m) => m.includes(`: ${name}`)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(steps.at(-1)).toContain(`loss → tunnel up ${lossToTunnelUpMs} ms`);
  }, 90_000);

  it("follows a DNS change: the running instance's iptables rules name the new address, and only it", async () => {
    const hosts = parseYaml(await readFile(join(EXAMPLES_DIR, "local-hosts.yaml"), "utf8")) as Record<string, string[]>;
    const names = (await run("ip", ["netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]!);
    const instance = names.find((n) => /-i\d+$/.test(n))!;
    const rules = async () => (await run("iptables-save", [], { netns: instance })).stdout;
    expect(await rules()).not.toContain("10.99.0.7");
    await vpn!.applyTargets({ ...hosts, "billing.corp.example.com": ["10.99.0.7"] });
    expect(await rules()).toContain("10.99.0.7/32");
    expect(board.snapshot().events.some((e) => /iptables rules follow the new DNS answers/.test(e.message))).toBe(true);
    // The same answers again change nothing.
    const events = board.snapshot().events.length;
    await vpn!.applyTargets({ ...hosts, "billing.corp.example.com": ["10.99.0.7"] });
    expect(board.snapshot().events.length).toBe(events);
  }, 30_000);

  it("leaves each peer with one IKE SA after the drill, the replacement's: the stale one was replaced, not left to DPD", async () => {
    await waitFor("both tunnels up on the board", () => tunnel("dc1")?.state === "up" && tunnel("dc2-legacy")?.state === "up", 10_000);
    const sockets = (await run("find", [work.path, "-name", "charon.vici"])).stdout.split("\n").filter(Boolean);
    const sas = async (socketPart: string, namespace: string) => {
      const socket = sockets.find((s) => s.includes(`/${socketPart}/`))!;
      return parseListSas((await run("swanctl", ["--list-sas", "--raw", "--uri", `unix://${socket}`], { netns: namespace })).stdout);
    };
    const names = (await run("ip", ["netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]!);
    const replacement = await sas("instance-2", names.find((n) => /-i2$/.test(n))!);
    expect(readTunnel(replacement, "dc1").state).toBe("up");
    for (const [index, connection] of [[1, "dc1"], [2, "dc2-legacy"]] as const) {
      const peer = (await sas(`peer-${index}`, await peerNamespace(index))).filter((event) => event[connection]);
      // The new instance's INITIAL_CONTACT made the peer drop the SA of the lost one at once.
      expect(peer).toHaveLength(1);
      expect(peer[0]![connection]).toMatchObject({ state: "ESTABLISHED", "remote-host": layout.persistentAddress });
    }
  }, 30_000);

  it("removes what it made when the start fails, and refuses a work directory too long for charon's socket", async () => {
    const broken = structuredClone(await example());
    // The peer's agent validates its bundle's model again and refuses it, after the namespaces and charons exist.
    (broken.connections[0]!.ike as { encryption: string[] }).encryption = ["rot13"];
    const during = await machine();
    await expect(startLocalVpn(broken, { board: new StatusBoard(), workDir: work.path, hosts: {} })).rejects.toThrow(/invalid model/);
    expect(await machine()).toEqual(during);
    // unix(7): sun_path holds 108 bytes with the terminating null.
    await expect(startLocalVpn(await example(), { board: new StatusBoard(), workDir: join(work.path, "w".repeat(80)), hosts: {} }))
      .rejects.toThrow(/is too long: charon's vici socket would be .* bytes\), and a UNIX socket path holds at most 107/);
    expect(await machine()).toEqual(during);
  }, 30_000);

  it("stops, even in the middle of a drill, without leaving a namespace, an interface or a process behind, and stops again harmlessly", async () => {
    const namespaces = (await machine()).namespaces.split("\n").filter(Boolean);
    const pids = (await Promise.all(namespaces.map(async (ns) => (await run("ip", ["netns", "pids", ns])).stdout.split(/\s+/).filter(Boolean).map(Number)))).flat();
    // The instance and each peer run charon (and the instance the probe server).
    expect(pids.length).toBeGreaterThanOrEqual(4);
    const drill = vpn!.loseInstance();
    const drillOutcome = drill.then(() => "finished", (error: Error) => error.message);
    await vpn!.stop();
    await vpn!.stop();
    expect(await drillOutcome).toBe("the local VPN for datacenter-vpn was stopped during the heal drill");
    expect(await machine()).toEqual(before);
    expect(tunnel("dc1")).toMatchObject({ state: "down", detail: "stopped" });
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    await expect(vpn!.loseInstance()).rejects.toThrow("is stopped");
  }, 30_000);
});
