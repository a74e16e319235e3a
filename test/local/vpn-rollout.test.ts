// A commit that changes a strongSwan service reaches the local VPN as a rollout does on AWS: the local fleet's
// rollout run hands the new config to the VPN, which replaces charon and the agent on the same instance (namespace
// and ENI kept), the changed connections' peer sites following; a config whose tunnels do not come up fails the
// deployment, the previous config runs again and the rollout watch pins the version. The fleet here holds only the
// example's datacenter-vpn, so no proxy generation runs. Root and namespaces: run under
// flock /tmp/proxy-fleet-dataplane.lock.
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { parseListSas } from "../../containers/agent/metrics.ts";
import { run, waitFor } from "../../containers/agent/process.ts";
import { LocalFleet } from "../../functions/local/fleet.ts";
import { git } from "../../functions/local/git.ts";
import { readTunnel } from "../../functions/local/vpn-model.ts";
import { startLocalVpn, type LocalVpn } from "../../functions/local/vpn.ts";
import { EXAMPLES_DIR, loadOrThrow, service } from "../support/fixtures.ts";
import { tempDir } from "../support/tmp.ts";

const SERVICE = "datacenter-vpn";

type Config = { version: number; dns: unknown; services: Record<string, Record<string, unknown>> };
type Connection = { name: string; ikeVersion?: number; ike: Record<string, unknown>; esp: Record<string, unknown>; remote: Record<string, unknown> };

describe("a commit that changes the strongSwan service, deployed to the local VPN (root)", () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let fleet: LocalFleet | undefined;
  let vpn: LocalVpn | undefined;
  let repo = "";
  let config: Config;
  let before = "";

  const machine = async () => {
    const namespaces = (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith("pfvpn-")).sort().join("\n");
    const links = (await run("ip", ["-o", "link"])).stdout.split("\n").map((l) => l.split(":")[1]?.trim()).filter(Boolean).sort().join("\n");
    return `${namespaces}\n--\n${links}`;
  };
  const namespaces = async () => (await run("ip", ["netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith("pfvpn-"));
  const instanceNamespace = async () => (await namespaces()).find((n) => /-i\d+$/.test(n))!;
  const rules = async () => (await run("iptables-save", [], { netns: await instanceNamespace() })).stdout;
  const tunnel = (connection: string) => fleet!.board.snapshot().tunnels.find((t) => t.service === SERVICE && t.connection === connection);
  const connections = () => config.services[SERVICE]!.connections as Connection[];
  /** The instance's charon, asked directly: what it has loaded (--list-conns) and negotiated (--list-sas). */
  const swanctl = async (args: string[]) => {
    const socket = (await run("find", [work.path, "-path", "*instance-*", "-name", "charon.vici"])).stdout.split("\n").filter(Boolean)[0]!;
    return (await run("swanctl", [...args, "--uri", `unix://${socket}`], { netns: await instanceNamespace() })).stdout;
  };
  /** Writes the config into the repository and commits it: the commit is the push event; its rollout run ends before this returns. */
  const commit = async (message: string) => {
    await writeFile(join(repo, "fleet.yaml"), stringifyYaml(config));
    expect((await git(repo, ["commit", "-qam", message])).code).toBe(0);
    await fleet!.reconcile();
    await fleet!.idle();
    return (await git(repo, ["rev-parse", "HEAD"])).stdout.trim();
  };
  const rollout = (commitId: string) => fleet!.board.snapshot().rollouts.find((r) => r.commit === commitId && r.service === SERVICE);

  beforeAll(async () => {
    work = await tempDir("vpn-rollout");
    before = await machine();
    const example = parseYaml(await readFile(join(EXAMPLES_DIR, "fleet.yaml"), "utf8")) as Config;
    config = { version: example.version, dns: example.dns, services: { [SERVICE]: example.services[SERVICE]! } };
    const seed = join(work.path, "seed");
    await mkdir(seed);
    await writeFile(join(seed, "fleet.yaml"), stringifyYaml(config));
    await cp(join(EXAMPLES_DIR, "local-hosts.yaml"), join(work.path, "local-hosts.yaml"));
    repo = join(work.path, "repo");
    fleet = await LocalFleet.start({
      repo, branch: "main", seed, workDir: join(work.path, "fleet"), hostsFile: join(work.path, "local-hosts.yaml"), portOffset: 40_000,
    });
    // As `fleet local --run` wires it (functions/cli/local.ts): the VPN starts with the accepted config, and
    // later deployments of the service go to it.
    const model = service(await loadOrThrow({ "fleet.yaml": stringifyYaml(config) }), SERVICE, "strongswan");
    const running = await startLocalVpn(model, { board: fleet.board, workDir: join(work.path, "vpn"), hosts: fleet.zoneTargets(), deployTimeoutMs: 15_000 });
    vpn = running;
    fleet.onStrongswanDeploy(async (name, next) => (name === SERVICE ? running.deploy(next) : undefined));
    await waitFor("both tunnels up", () => tunnel("dc1")?.state === "up" && tunnel("dc2-legacy")?.state === "up", 20_000);
  }, 90_000);

  afterAll(async () => {
    await vpn?.stop();
    await fleet?.stop();
    await work?.cleanup();
  });

  it("runs a rule added and dc1's ESP proposal changed on the same instance, with both tunnels up on the new config", async () => {
    const instance = await instanceNamespace();
    const peersBefore = (await namespaces()).filter((n) => /-p\d+$/.test(n)).sort();
    expect(await rules()).not.toContain("192.168.10.123");
    (config.services[SERVICE]!.rules as unknown[]).push({ name: "ntp", from: ["10.20.0.0/16"], to: ["192.168.10.123"], protocols: ["udp"], ports: [123] });
    connections()[0]!.esp = { encryption: ["aes128gcm16"], integrity: ["sha256"], dhGroups: ["ecp256"], lifetime: "1h" };
    const id = await commit("dc1: ESP with AES-128-GCM and ECP-256; NTP to the data centre");

    expect(rollout(id)).toMatchObject({ outcome: "succeeded" });
    expect(fleet!.state.value.services[SERVICE]?.commit).toBe(id);
    // The same instance (namespace and ENI kept), with the new rule and the new proposal negotiated.
    expect(await instanceNamespace()).toBe(instance);
    expect(await rules()).toMatch(/-d 192\.168\.10\.123\/32 -p udp .*--dports 123 .*--comment ntp -j ACCEPT/);
    const sas = parseListSas(await swanctl(["--list-sas", "--raw"]));
    expect(readTunnel(sas, "dc1").state).toBe("up");
    expect(readTunnel(sas, "dc2-legacy").state).toBe("up");
    const dc1 = sas.find((event) => event.dc1)!.dc1 as Record<string, Record<string, Record<string, string>>>;
    // The first CHILD SA comes with IKE_AUTH, without a DH exchange of its own: its cipher shows the new proposal.
    expect(Object.values(dc1["child-sas"]!).map((child) => [child["encr-alg"], child["encr-keysize"]])).toContainEqual(["AES_GCM_16", "128"]);
    // dc1's peer site was replaced by one loaded with the changed mirror; dc2-legacy's, unchanged, kept.
    const peersAfter = (await namespaces()).filter((n) => /-p\d+$/.test(n)).sort();
    expect(peersAfter).not.toContain(peersBefore.find((n) => n.endsWith("-p1")));
    expect(peersAfter).toContain(peersBefore.find((n) => n.endsWith("-p2")));
    expect(peersAfter).toHaveLength(2);
  }, 60_000);

  it("fails a change whose tunnel cannot come up: the previous config runs again and the version is pinned as failed", async () => {
    const previousHash = fleet!.state.value.services[SERVICE]!.hash;
    // Validates, but the IKEv1 tunnel does not come up with an AEAD-only IKE proposal: the deployment fails at its bound.
    connections()[1]!.ike = { ...connections()[1]!.ike, encryption: ["aes256gcm16"] };
    const id = await commit("dc2-legacy: IKE with AES-GCM");

    expect(rollout(id)).toMatchObject({ outcome: "rolled-back" });
    expect(rollout(id)!.detail).toMatch(/^not every tunnel came up: dc2-legacy /);
    const failed = fleet!.state.value.failed[SERVICE] ?? [];
    expect(failed).toHaveLength(1);
    expect(fleet!.state.value.services[SERVICE]?.hash).toBe(previousHash);
    const events = fleet!.board.snapshot().events.map((e) => e.message);
    expect(events.some((m) => /deployment of .* failed/.test(m))).toBe(true);
    expect(events.some((m) => /pinned as failed/.test(m))).toBe(true);
    // The previous config again: its rule, dc2-legacy's AES-128 proposal, both tunnels up.
    expect(await rules()).toContain("192.168.10.123/32");
    const sas = parseListSas(await swanctl(["--list-sas", "--raw"]));
    expect(readTunnel(sas, "dc1").state).toBe("up");
    expect(readTunnel(sas, "dc2-legacy").state).toBe("up");
    expect(sas.find((event) => event["dc2-legacy"])!["dc2-legacy"]).toMatchObject({ "encr-alg": "AES_CBC", "encr-keysize": "128" });
  }, 90_000);

  it("refuses, without touching the running service, a config the local VPN cannot simulate", async () => {
    connections()[1]!.ike = { ...connections()[1]!.ike, encryption: ["aes128"] };
    connections()[1]!.remote = { ...connections()[1]!.remote, address: "2001:db8::20" };
    const charonBefore = await swanctl(["--list-sas", "--raw"]);
    const id = await commit("dc2-legacy over IPv6");

    expect(rollout(id)).toMatchObject({ outcome: "rolled-back" });
    expect(rollout(id)!.detail).toContain("connection dc2-legacy: the local VPN simulates IPv4 peers only, not 2001:db8::20");
    expect(fleet!.board.snapshot().events.some((e) => e.source === "vpn" && /not deployed, datacenter-vpn keeps running its config/.test(e.message))).toBe(true);
    // The same IKE SAs: nothing was restarted.
    const ids = (text: string) => parseListSas(text).map((event) => Object.values(event).map((sa) => (sa as Record<string, string>).uniqueid).join());
    expect(ids(await swanctl(["--list-sas", "--raw"]))).toEqual(ids(charonBefore));
  }, 30_000);

  it("removes a connection: its peer site stops and its tunnel leaves the running config", async () => {
    const services = config.services[SERVICE]!;
    services.connections = [connections()[0]!];
    const id = await commit("dc2-legacy decommissioned");

    expect(rollout(id)).toMatchObject({ outcome: "succeeded" });
    expect((await namespaces()).filter((n) => /-p\d+$/.test(n))).toHaveLength(1);
    expect(tunnel("dc2-legacy")).toMatchObject({ state: "down", detail: "removed from the config" });
    expect(await swanctl(["--list-conns"])).not.toContain("dc2-legacy");
    expect(readTunnel(parseListSas(await swanctl(["--list-sas", "--raw"])), "dc1").state).toBe("up");
  }, 60_000);

  it("stops without leaving a namespace, an interface or a process behind", async () => {
    await vpn!.stop();
    await fleet!.stop();
    expect(await machine()).toBe(before);
    expect(await vpn!.deploy(service(await loadOrThrow({ "fleet.yaml": stringifyYaml(config) }), SERVICE, "strongswan"))).toMatchObject({ kind: "cut-short" });
  }, 30_000);
});
