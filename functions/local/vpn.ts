// A strongSwan service in the local fleet, for real: the service runs on an "instance" (a network namespace)
// holding the persistent address (the stand-in for the static ENI and its Elastic IP), started the way the
// container starts it (charon, then the strongSwan agent: swanctl load, iptables rules, runtime targets), with
// a simulated peer site per connection (a second charon loaded with the mirror of the connection, and a host
// of its protected network to send traffic through the tunnel). Tunnel states go on the status board live.
//
// The heal drill loses the instance (every process in it killed, its namespace deleted once its ENI is
// detached) and heals it with the heal loop itself (functions/heal/heal.ts, planning with functions/heal/plan.ts)
// on namespace-backed EC2 and Auto Scaling ports: a replacement namespace, the ENI detached from the dead one
// and attached to it, the service started there. It measures loss → tunnel up (CHILD SA installed and a probe
// from the peer's host answered through the tunnel). Traffic never leaves the namespaces made here.
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { startCharon, type Charon } from "../../containers/agent/charon.ts";
import { parseListSas } from "../../containers/agent/metrics.ts";
import { run, startDaemon, waitFor, type Daemon } from "../../containers/agent/process.ts";
import { StrongswanAgent, type SecretReference, type SecretsResolver } from "../../containers/agent/strongswan.ts";
import type { ServiceModelOf } from "../fleet/load.ts";
import { MemoryLeases } from "../dns/memory.ts";
import { healLaunch, type HealPolicy } from "../heal/heal.ts";
import { renderBundle } from "../render/bundle.ts";
import type { StrongswanDeployment } from "./generations.ts";
import type { StatusBoard, TunnelStatus } from "./status.ts";
import { LocalCloud } from "./vpn-cloud.ts";
import { drillDeadlineMs, mirrorService, readTunnel, trappedChildren, vpnLayout, type PeerSite, type TunnelReading, type VpnLayout } from "./vpn-model.ts";

type Strongswan = ServiceModelOf<"strongswan">;

export interface LocalVpnOptions {
  readonly board: StatusBoard;
  /** Where charon's configuration, sockets and logs and the agent's files go (a directory per run inside). */
  readonly workDir: string;
  /** Stand-in DNS answers for the rules' hostnames (the runtime targets). */
  readonly hosts: Readonly<Record<string, readonly string[]>>;
  /** How long a deployment's tunnels have to come up before it fails (default DEPLOY_TIMEOUT_MS). */
  readonly deployTimeoutMs?: number;
}

/**
 * How a deployment to the local VPN ended: `completed` with every tunnel of the new config up, `failed` with the
 * previous config running again, `cut-short` when the VPN was stopped meanwhile (not the version's fault).
 */
export type VpnDeployOutcome = StrongswanDeployment;

export interface LocalVpn {
  /** The heal drill: loses the instance and heals it; resolves once every tunnel carries traffic again. */
  loseInstance(): Promise<{ lossToTunnelUpMs: number }>;
  /**
   * A new runtime target document (the DNS loop's answers for the rules' hostnames): the running service re-applies
   * its iptables rules, as the container does, and a replacement instance starts with it.
   */
  applyTargets(targets: Readonly<Record<string, readonly string[]>>): Promise<void>;
  /**
   * A rollout of a new config of the service (the ECS deployment on the site's instance): charon and the agent
   * replaced on the same instance (its namespace and the ENI stay), the changed connections' peers following.
   */
  deploy(service: Strongswan): Promise<VpnDeployOutcome>;
  /** Removes every namespace, interface and process; safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * How long a deployment waits for every tunnel of the new config: a peer that initiates towards a charon not yet
 * listening retransmits after 4 s (charon's retransmit_timeout), so a few of those fit, as ECS's health check
 * grace period would.
 */
export const DEPLOY_TIMEOUT_MS = 30_000;
/** How often the board's tunnel states are refreshed from charon. */
const TUNNEL_POLL_MS = 1_500;
/** The drill's own polling while it waits for the tunnels (charon is asked, the probe retried). */
const DRILL_POLL_MS = 100;
/** The probe's port on the instance, and how long one probe may take. */
const PROBE_PORT = 7;
const PROBE_TIMEOUT_MS = 2_000;
const MAX_SOCKET_PATH = 107;
/** The heal loop's policy, scaled to namespaces (an interface moves in milliseconds). */
const LOCAL_HEAL_POLICY: HealPolicy = { maxAttempts: 3, backoffMs: 200, detachWaitSeconds: 5 };

const PROBE_SERVER = `const net = require("node:net");
const [name, port, ...addresses] = process.argv.slice(1);
let listening = 0;
for (const address of addresses) {
  net.createServer((socket) => { socket.on("error", () => {}); socket.end(name + " from " + socket.remoteAddress + "\\n"); })
    .listen(Number(port), address, () => { if (++listening === addresses.length) console.log("listening"); });
}`;

const PROBE_CLIENT = `const net = require("node:net");
const [host, port, localAddress, timeoutMs] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port), localAddress });
let data = "";
const finish = () => { process.stdout.write(data.split("\\n")[0] + "\\n"); process.exit(0); };
socket.setTimeout(Number(timeoutMs), finish);
socket.on("data", (chunk) => (data += chunk));
socket.on("end", finish);
socket.on("error", finish);`;

let runs = 0;

export async function startLocalVpn(service: Strongswan, options: LocalVpnOptions): Promise<LocalVpn> {
  if (process.getuid?.() !== 0) {
    throw new Error(`the local VPN for ${service.name} needs root: it creates network namespaces and runs charon and iptables in them`);
  }
  const layout = vpnLayout(service);
  const vpn = new VpnRun(service, layout, options);
  vpn.checkSocketPaths();
  try {
    await vpn.start();
  } catch (error) {
    await vpn.stop();
    throw error;
  }
  return {
    loseInstance: () => vpn.loseInstance(), applyTargets: (targets) => vpn.applyTargets(targets), deploy: (next) => vpn.deploy(next), stop: () => vpn.stop(),
  };
}

interface RunningInstance {
  readonly id: string;
  readonly namespace: string;
  readonly dir: string;
  probeServer?: Daemon;
  charon?: Charon;
  agent?: StrongswanAgent;
}

interface RunningPeer {
  readonly site: PeerSite;
  readonly namespace: string;
  /** The hash of the mirror's bundle it was loaded with: a changed connection changes it. */
  readonly mirrorHash: string;
  charon?: Charon;
}

class VpnRun {
  /** The config running on the instance; a deployment replaces it (and its layout). */
  private service: Strongswan;
  private layout: VpnLayout;
  private readonly options: LocalVpnOptions;
  private readonly id = `${(process.pid % 46656).toString(36)}${(++runs).toString(36)}`;
  private readonly dir: string;
  private readonly subnet: string;
  private readonly eniDevice: string;
  private readonly cloud: LocalCloud;
  /** Namespaces made and not yet deleted, in creation order. */
  private readonly namespaces = new Set<string>();
  private readonly peers: RunningPeer[] = [];
  private instance?: RunningInstance;
  private instances = 0;
  private readonly keys = new Map<string, Buffer>();
  private readonly secrets: SecretsResolver;
  private poller?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private drill?: Promise<unknown>;
  private deploying?: Promise<unknown>;
  /** Peer sites started so far: each gets namespace and device names of its own. */
  private peerSites = 0;
  private stopping?: Promise<void>;
  /** The runtime targets as last applied: the next instance starts with them. */
  private targets: Readonly<Record<string, readonly string[]>>;

  constructor(service: Strongswan, layout: VpnLayout, options: LocalVpnOptions) {
    this.service = service;
    this.layout = layout;
    this.options = options;
    this.targets = options.hosts;
    this.dir = join(options.workDir, `vpn-${this.id}`);
    this.subnet = `pfvpn-${this.id}-net`;
    this.eniDevice = `pv${this.id}e`;
    this.cloud = new LocalCloud({
      service: service.name, device: this.eniDevice, address: layout.persistentAddress, subnet: this.subnet,
      peers: layout.peers.map((peer) => peer.address),
    });
    this.cloud.onDetachedFromDead = (instanceId) => this.removeDeadInstance(instanceId);
    // Local stand-ins for the pre-shared keys: random, one per key reference, the same on both ends; never logged.
    this.secrets = { resolve: async (reference: SecretReference) => this.keyFor(reference) };
  }

  /**
   * charon's vici socket lives in the run's directory: a UNIX socket path holds at most 107 bytes (unix(7):
   * sun_path is 108 bytes with the terminating null), and charon silently runs without vici when it is longer.
   */
  checkSocketPaths(): void {
    const longest = join(this.dir, `instance-${"9".repeat(4)}`, "charon", "charon.vici");
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
      throw new Error(`the local VPN's workDir ${this.options.workDir} is too long: charon's vici socket would be ${longest} ` +
        `(${Buffer.byteLength(longest)} bytes), and a UNIX socket path holds at most ${MAX_SOCKET_PATH}`);
    }
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const peer of this.layout.peers) this.setTunnel(peer.connection, { state: "down", detail: "starting" });
    await this.makeSubnet();
    for (const site of this.layout.peers) await this.startPeer(site);
    const instance = await this.launchInstance();
    const healed = await this.heal(instance, Date.now());
    this.event("info", `${this.service.name}: ${healed} — instance ${instance.id} holds ${this.cloud.eniId} (${this.layout.persistentAddress})`);
    await this.startService(instance);
    this.instance = instance;
    this.event("info", `${this.service.name}: service started on ${instance.id}; peers ${this.layout.peers.map((p) => `${p.connection} at ${p.address}`).join(", ")}`);
    this.schedulePoll(0);
  }

  async loseInstance(): Promise<{ lossToTunnelUpMs: number }> {
    if (this.stopping) throw new Error(`the local VPN for ${this.service.name} is stopped`);
    if (this.drill) throw new Error(`a heal drill of ${this.service.name} is already running`);
    if (this.deploying) throw new Error(`a deployment of ${this.service.name} is running: lose the instance after it`);
    const drill = this.runDrill();
    this.drill = drill;
    try {
      return await drill;
    } catch (error) {
      this.event("error", `heal drill ${this.service.name} failed: ${error instanceof Error ? error.message : String(error)}`, "heal");
      throw error;
    } finally {
      this.drill = undefined;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  // ---- deployments ----

  async deploy(next: Strongswan): Promise<VpnDeployOutcome> {
    // A drill in progress ends first: ECS deploys onto the instance the heal loop gave the ENI to.
    await this.drill?.catch(() => undefined);
    if (this.stopping) return { kind: "cut-short", reason: `the local VPN for ${this.service.name} is stopped` };
    if (this.deploying) throw new Error(`a deployment of ${this.service.name} is already running`);
    const deployment = this.runDeployment(next);
    this.deploying = deployment;
    try {
      return await deployment;
    } finally {
      this.deploying = undefined;
    }
  }

  private async runDeployment(next: Strongswan): Promise<VpnDeployOutcome> {
    const started = Date.now();
    const hash = renderBundle(next).hash.slice(0, 19);
    let layout: VpnLayout;
    try {
      layout = this.deploymentLayout(next);
    } catch (error) {
      // Nothing was touched: the running config keeps running, as ECS keeps the old task when the new one cannot start.
      const reason = errorMessage(error);
      this.event("error", `${next.name}: ${hash} not deployed, ${this.service.name} keeps running its config: ${reason}`);
      return { kind: "failed", reason };
    }
    const previous = { service: this.service, layout: this.layout };
    this.event("info", `${next.name}: deploying ${hash} on ${this.instance?.id ?? "no instance"} (charon and the agent replaced; namespace and ENI kept)`);
    try {
      await this.replaceService(next, layout);
      await this.waitForTunnels(`deployment of ${hash}`, started + (this.options.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS));
      const detail = `${next.name}: ${hash} running, every tunnel up in ${Date.now() - started} ms`;
      this.event("info", detail);
      return { kind: "completed", detail };
    } catch (error) {
      if (this.stopping) return { kind: "cut-short", reason: `the local VPN for ${next.name} was stopped during the deployment` };
      const reason = errorMessage(error);
      this.event("error", `${next.name}: deployment of ${hash} failed: ${reason}; starting the previous config again`);
      try {
        await this.replaceService(previous.service, previous.layout);
        await this.waitForTunnels("rollback", Date.now() + (this.options.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS));
        this.event("info", `${next.name}: the previous config runs again, every tunnel up`);
      } catch (rollbackError) {
        if (!this.stopping) this.event("error", `${next.name}: the previous config did not come back whole: ${errorMessage(rollbackError)}`);
      }
      return { kind: "failed", reason };
    }
  }

  /**
   * The new config's layout, or why the local VPN cannot run it: what vpnLayout refuses, and a persistent address
   * that would move (the ENI keeps its address across deployments on AWS; a connection now using it cannot run here).
   */
  private deploymentLayout(next: Strongswan): VpnLayout {
    if (next.name !== this.service.name) throw new Error(`this local VPN runs ${this.service.name}, not ${next.name}`);
    const layout = vpnLayout(next);
    if (layout.persistentAddress !== this.layout.persistentAddress) {
      throw new Error(`the new connections use ${this.layout.persistentAddress}, the persistent address the ENI holds here`);
    }
    return layout;
  }

  /**
   * The ECS task replaced on the same instance: charon stopped (its peers get a DELETE) and started again, the agent
   * loading the new config; the instance's protected hosts and peer routes follow the layout. A peer site is kept
   * when its connection's mirror is unchanged and the service initiates it (the service brings it back up); a
   * connection that waits for its peer (startAction none) gets a fresh peer, which initiates at once instead of
   * waiting out its DPD after the DELETE. A removed connection's peer is stopped.
   */
  private async replaceService(next: Strongswan, layout: VpnLayout): Promise<void> {
    const instance = this.instance;
    if (!instance) throw new Error(`${next.name} has no running instance to deploy to`);
    const before = this.layout;
    await instance.charon?.stop();
    instance.charon = undefined;
    instance.agent = undefined;
    this.checkNotStopping();
    this.service = next;
    this.layout = layout;

    const wanted = new Map(layout.peers.map((site) => {
      const connection = next.connections.find((c) => c.name === site.connection)!;
      return [site.connection, { site, connection, mirrorHash: renderBundle(mirrorService(next, connection, layout.persistentAddress)).hash }] as const;
    }));
    for (const peer of [...this.peers]) {
      const want = wanted.get(peer.site.connection);
      const keep = want && want.mirrorHash === peer.mirrorHash && want.connection.startAction !== "none" && isDeepStrictEqual(want.site, peer.site);
      if (keep) continue;
      await peer.charon?.stop().catch(() => undefined);
      await this.deleteNamespace(peer.namespace);
      this.peers.splice(this.peers.indexOf(peer), 1);
      if (!want) this.setTunnel(peer.site.connection, { state: "down", detail: "removed from the config" });
    }
    for (const site of layout.peers) {
      this.checkNotStopping();
      if (!this.peers.some((p) => p.site.connection === site.connection)) await this.startPeer(site);
    }

    // The ENI's host routes follow the peers (the cloud sets them again on the next attach).
    const addresses = layout.peers.map((p) => p.address);
    this.cloud.setPeers(addresses);
    for (const gone of before.peers.filter((p) => !addresses.includes(p.address))) {
      await run("ip", ["-n", instance.namespace, "route", "del", `${gone.address}/32`], { timeoutMs: 5_000 });
    }
    for (const address of addresses) await ip(["-n", instance.namespace, "route", "replace", `${address}/32`, "dev", this.eniDevice]);
    // A replaced peer site answers at the same address from a new interface: the instance's ARP entry for the old
    // one would send IKE into the void until it expires.
    await ip(["-n", instance.namespace, "neigh", "flush", "dev", this.eniDevice]);
    if (!isDeepStrictEqual(before.targets, layout.targets)) await this.serveProtectedHosts(instance, before.targets);

    this.checkNotStopping();
    await this.startService(instance);
  }

  /** Waits until every connection with a peer site has its CHILD SA installed; the board follows. */
  private async waitForTunnels(what: string, deadline: number): Promise<void> {
    for (;;) {
      this.checkNotStopping();
      const instance = this.instance;
      if (!instance) throw new Error(`${this.service.name} lost its instance during the ${what}`);
      const readings = await this.readTunnels(instance);
      for (const [connection, reading] of readings) this.setTunnel(connection, reading);
      const waiting = [...readings].filter(([, reading]) => reading.state !== "up");
      if (waiting.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`not every tunnel came up: ${waiting.map(([connection, reading]) => `${connection} ${reading.state} (${reading.detail ?? ""})`).join(", ")}`);
      }
      await sleep(DRILL_POLL_MS);
    }
  }

  // ---- the drill ----

  private async runDrill(): Promise<{ lossToTunnelUpMs: number }> {
    const dead = this.instance;
    if (!dead) throw new Error(`${this.service.name} has no running instance to lose`);
    const lostAt = Date.now();
    const timings: Array<[string, number]> = [];
    const step = (name: string) => {
      const ms = Date.now() - lostAt;
      timings.push([name, ms]);
      this.event("info", `heal drill ${this.service.name}: ${name} +${ms} ms`, "heal");
    };
    this.event("warn", `heal drill ${this.service.name}: instance ${dead.id} lost (every process in ${dead.namespace} killed)`, "heal");
    this.instance = undefined;
    this.cloud.lose(dead.id);
    await killEverything(dead.namespace);
    for (const peer of this.layout.peers) this.setTunnel(peer.connection, { state: "down", detail: `instance ${dead.id} lost` });
    // The loss is seen once nothing runs on the instance any more (the ASG health check's part).
    await waitFor(`${dead.namespace} to be empty`, async () => (await namespacePids(dead.namespace)).length === 0, 10_000);
    step("detection");

    const replacement = await this.launchInstance();
    step(`namespace start (${replacement.id})`);
    const healed = await this.heal(replacement, lostAt);
    step(`ENI attach (${healed})`);
    this.checkNotStopping();
    await this.startService(replacement);
    this.instance = replacement;
    step("service start");

    const ikeUp = new Set<string>();
    const passing = new Set<string>();
    const deadlineMs = drillDeadlineMs(this.service);
    const deadline = lostAt + deadlineMs;
    while (passing.size < this.layout.peers.length) {
      this.checkNotStopping();
      if (Date.now() > deadline) {
        const missing = this.layout.peers.filter((p) => !passing.has(p.connection)).map((p) => p.connection);
        throw new Error(`heal drill ${this.service.name}: ${missing.join(", ")} carried no traffic ${deadlineMs} ms after the loss`);
      }
      const readings = await this.readTunnels(replacement);
      // The board follows the drill as closely as the drill follows charon.
      for (const [connection, reading] of readings) this.setTunnel(connection, reading);
      for (const peer of this.layout.peers) {
        if (passing.has(peer.connection)) continue;
        const reading = readings.get(peer.connection)!;
        if (reading.state === "up" && !ikeUp.has(peer.connection)) {
          ikeUp.add(peer.connection);
          if (ikeUp.size === this.layout.peers.length) step("IKE up (every CHILD SA installed)");
        }
        if (reading.state === "up" && (await this.probe(peer))) passing.add(peer.connection);
      }
      if (passing.size < this.layout.peers.length) await sleep(DRILL_POLL_MS);
    }
    const lossToTunnelUpMs = Date.now() - lostAt;
    step("traffic through every tunnel");
    this.event("info", `heal drill ${this.service.name}: loss → tunnel up ${lossToTunnelUpMs} ms (${timings.map(([n, ms]) => `${n.split(" (")[0]} ${ms}`).join(", ")})`, "heal");
    this.schedulePoll(0);
    return { lossToTunnelUpMs };
  }

  /** The heal loop, as the Lambda runs it, for a launching instance. */
  private async heal(instance: RunningInstance, eventTime: number): Promise<string> {
    const hook = this.cloud.launch(instance.id, instance.namespace);
    const outcome = await healLaunch(hook, eventTime, {
      ec2: this.cloud, autoScaling: this.cloud, leases: new MemoryLeases(), sleep, now: Date.now,
    }, LOCAL_HEAL_POLICY);
    if (outcome.kind !== "continued") throw new Error(`the heal loop did not give ${instance.id} its ENI: ${JSON.stringify(outcome)}`);
    return outcome.actions.map((action) => action.kind).join(", ");
  }

  // ---- instances, peers, the subnet ----

  private async makeSubnet(): Promise<void> {
    await this.addNamespace(this.subnet);
    await ip(["-n", this.subnet, "link", "add", "br0", "type", "bridge"]);
    await ip(["-n", this.subnet, "link", "set", "br0", "up"]);
    // The ENI waits on the subnet, unattached (down), until the heal loop attaches it.
    await ip(["-n", this.subnet, "link", "add", this.eniDevice, "type", "veth", "peer", "name", `${this.eniDevice}b`]);
    await this.plugIntoBridge(`${this.eniDevice}b`);
  }

  private async plugIntoBridge(device: string): Promise<void> {
    await ip(["-n", this.subnet, "link", "set", device, "master", "br0"]);
    await ip(["-n", this.subnet, "link", "set", device, "up"]);
  }

  private async startPeer(site: PeerSite): Promise<void> {
    const number = ++this.peerSites;
    const namespace = `pfvpn-${this.id}-p${number}`;
    const device = `pv${this.id}p${number}`;
    const connection = this.service.connections.find((c) => c.name === site.connection)!;
    const mirror = mirrorService(this.service, connection, this.layout.persistentAddress);
    const bundle = renderBundle(mirror);
    await this.addNamespace(namespace);
    const peer: RunningPeer = { site, namespace, mirrorHash: bundle.hash };
    this.peers.push(peer);
    await ip(["link", "add", device, "netns", namespace, "type", "veth", "peer", "name", `${device}b`, "netns", this.subnet]);
    await this.plugIntoBridge(`${device}b`);
    await ip(["-n", namespace, "addr", "add", `${site.address}/32`, "dev", device]);
    await ip(["-n", namespace, "link", "set", device, "up"]);
    // Only the service's persistent address is reachable in the clear: its protected network only through the tunnel.
    await ip(["-n", namespace, "route", "add", `${this.layout.persistentAddress}/32`, "dev", device]);
    for (const host of site.hosts) await ip(["-n", namespace, "addr", "add", `${host}/32`, "dev", "lo"]);
    const dir = join(this.dir, `peer-${number}`);
    peer.charon = await startCharon({ dir: join(dir, "charon"), netns: namespace, libipsec: true });
    await StrongswanAgent.start({ fetch: async () => bundle }, {
      bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), secrets: this.secrets,
      viciUri: peer.charon.viciUri, swanctlEnv: peer.charon.env, netns: namespace,
    });
  }

  /** A new instance: its namespace with the protected network's hosts the probe reaches, and nothing of the service yet. */
  private async launchInstance(): Promise<RunningInstance> {
    const n = ++this.instances;
    const instance: RunningInstance = { id: `i-local-${this.id}-${n}`, namespace: `pfvpn-${this.id}-i${n}`, dir: join(this.dir, `instance-${n}`) };
    await this.addNamespace(instance.namespace);
    // The site forwards between the tunnel and its network (the ECS host has forwarding on).
    const forwarding = await run("ip", ["netns", "exec", instance.namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1"], { timeoutMs: 5_000 });
    if (forwarding.code !== 0) throw new Error(`could not turn forwarding on in ${instance.namespace}: ${forwarding.stderr.trim()}`);
    await this.serveProtectedHosts(instance, []);
    return instance;
  }

  /** Puts the layout's protected hosts on the instance's loopback (those not in `present` yet) and the probe server on them. */
  private async serveProtectedHosts(instance: RunningInstance, present: readonly string[]): Promise<void> {
    for (const target of this.layout.targets) {
      if (!present.includes(target)) await ip(["-n", instance.namespace, "addr", "add", `${target}/32`, "dev", "lo"]);
    }
    await instance.probeServer?.stop();
    const server = startDaemon(process.execPath, ["-e", PROBE_SERVER, `${this.service.name} on ${instance.id}`, String(PROBE_PORT), ...this.layout.targets], { netns: instance.namespace });
    instance.probeServer = server;
    await waitFor("the probe server", () => server.output().includes("listening") || !server.running(), 10_000);
    if (!server.running()) throw new Error(`the probe server on ${instance.id} exited: ${server.output()}`);
  }

  /** The service as the container starts it: charon, then the agent (swanctl load, iptables, runtime targets). */
  private async startService(instance: RunningInstance): Promise<void> {
    instance.charon = await startCharon({ dir: join(instance.dir, "charon"), netns: instance.namespace, libipsec: true });
    const bundle = renderBundle(this.service);
    instance.agent = await StrongswanAgent.start({ fetch: async () => bundle }, {
      bundleDir: join(instance.dir, "bundle"), runDir: join(instance.dir, "run"), secrets: this.secrets,
      viciUri: instance.charon.viciUri, swanctlEnv: instance.charon.env, netns: instance.namespace, targets: this.targets,
    });
    await this.initiateTrapped(instance, instance.charon);
  }

  async applyTargets(targets: Readonly<Record<string, readonly string[]>>): Promise<void> {
    this.targets = targets;
    const agent = this.instance?.agent;
    if (!agent || this.stopping) return;
    const result = await agent.applyTargets(targets);
    if (result.applied) this.event("info", `${this.service.name}: iptables rules follow the new DNS answers (${result.reason})`);
    else if (result.reason !== "unchanged") this.event("warn", `${this.service.name}: kept its rules: ${result.reason}`);
  }

  /** Starts the trapped connections' CHILD SAs in the background (see trappedChildren); a failure goes on the board. */
  private async initiateTrapped(instance: RunningInstance, charon: Charon): Promise<void> {
    if (!this.service.connections.some((c) => c.startAction === "trap")) return;
    const swanctl = (args: string[], timeoutMs: number) =>
      run("swanctl", [...args, "--uri", charon.viciUri], { netns: instance.namespace, env: charon.env, timeoutMs });
    const listed = await swanctl(["--list-conns", "--raw"], 5_000);
    for (const { ike, child } of trappedChildren(this.service, listed.stdout)) {
      void swanctl(["--initiate", "--ike", ike, "--child", child, "--timeout", "10"], 15_000).then((r) => {
        if (r.code !== 0 && this.instance === instance && !this.stopping) this.event("warn", `${this.service.name}/${ike}: initiating ${child} failed: ${r.stderr.trim() || r.stdout.trim().split("\n").at(-1)}`);
      });
    }
  }

  private async removeDeadInstance(instanceId: string): Promise<void> {
    const namespace = this.cloud.namespaceOf(instanceId);
    this.cloud.forget(instanceId);
    if (namespace) await this.deleteNamespace(namespace);
  }

  // ---- tunnel states ----

  private async readTunnels(instance: RunningInstance): Promise<Map<string, TunnelReading>> {
    const readings = new Map<string, TunnelReading>();
    const charon = instance.charon;
    const listed = charon
      ? await run("swanctl", ["--list-sas", "--raw", "--uri", charon.viciUri], { netns: instance.namespace, env: charon.env, timeoutMs: 5_000 })
      : undefined;
    for (const peer of this.layout.peers) {
      readings.set(peer.connection, !listed
        ? { state: "down", detail: "charon not started" }
        : listed.code !== 0
          ? { state: "down", detail: `swanctl --list-sas failed: ${listed.stderr.trim() || `exit ${listed.code}`}` }
          : readTunnel(parseListSas(listed.stdout), peer.connection));
    }
    return readings;
  }

  private schedulePoll(delayMs: number): void {
    if (this.stopping) return;
    clearTimeout(this.poller);
    this.poller = setTimeout(() => {
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        this.schedulePoll(TUNNEL_POLL_MS);
      });
    }, delayMs);
  }

  private async pollOnce(): Promise<void> {
    const instance = this.instance;
    if (!instance || this.stopping) return;
    const readings = await this.readTunnels(instance).catch((error: unknown) => {
      const detail = `charon unreachable: ${error instanceof Error ? error.message : String(error)}`;
      return new Map(this.layout.peers.map((p) => [p.connection, { state: "down", detail } as TunnelReading]));
    });
    // The instance may have been lost while charon was asked: its answer is stale then.
    if (this.instance !== instance || this.stopping) return;
    for (const [connection, reading] of readings) this.setTunnel(connection, reading);
  }

  /** Writes a tunnel to the board when its state or detail changed; `since` moves only with the state. */
  private setTunnel(connection: string, reading: TunnelReading): void {
    const current = this.options.board.snapshot().tunnels.find((t) => t.service === this.service.name && t.connection === connection);
    if (current && current.state === reading.state && current.detail === reading.detail) return;
    const since = current && current.state === reading.state ? current.since : Date.now();
    const tunnel: TunnelStatus = { service: this.service.name, connection, state: reading.state, since, ...(reading.detail ? { detail: reading.detail } : {}) };
    this.options.board.setTunnel(tunnel);
    if (current?.state !== reading.state) this.event(reading.state === "down" ? "warn" : "info", `${this.service.name}/${connection}: tunnel ${reading.state}`);
  }

  // ---- the probe ----

  /** A TCP connection from the peer's protected host to the service's protected host: only the tunnel carries it. */
  private async probe(peer: PeerSite): Promise<boolean> {
    const namespace = this.peers.find((p) => p.site.connection === peer.connection)!.namespace;
    const result = await run(process.execPath, ["-e", PROBE_CLIENT, peer.target, String(PROBE_PORT), peer.host, String(PROBE_TIMEOUT_MS)], {
      netns: namespace, timeoutMs: PROBE_TIMEOUT_MS + 3_000,
    });
    return result.stdout.startsWith(`${this.service.name} on `) && result.stdout.trim().endsWith(`from ${peer.host}`);
  }

  // ---- teardown ----

  private async teardown(): Promise<void> {
    clearTimeout(this.poller);
    await this.polling;
    await this.drill?.catch(() => undefined);
    await this.deploying?.catch(() => undefined);
    const instance = this.instance;
    this.instance = undefined;
    // charon stops gracefully (its peers get a DELETE); whatever is left in a namespace is killed with it.
    await instance?.charon?.stop().catch(() => undefined);
    await instance?.probeServer?.stop().catch(() => undefined);
    for (const peer of this.peers) await peer.charon?.stop().catch(() => undefined);
    for (const namespace of [...this.namespaces].reverse()) await this.deleteNamespace(namespace);
    await rm(this.dir, { recursive: true, force: true });
    for (const peer of this.layout.peers) this.setTunnel(peer.connection, { state: "down", detail: "stopped" });
  }

  private checkNotStopping(): void {
    if (this.stopping) throw new Error(`the local VPN for ${this.service.name} was stopped during the ${this.deploying ? "deployment" : "heal drill"}`);
  }

  private async addNamespace(name: string): Promise<void> {
    await ip(["netns", "add", name]);
    this.namespaces.add(name);
    await ip(["-n", name, "link", "set", "lo", "up"]);
  }

  /** Kills what still runs in the namespace, then deletes it: its interfaces (veth ends, TUN devices) go with it. */
  private async deleteNamespace(name: string): Promise<void> {
    await killEverything(name);
    await run("ip", ["netns", "del", name]);
    this.namespaces.delete(name);
  }

  private keyFor(reference: SecretReference): Buffer {
    const key = JSON.stringify(reference);
    if (!this.keys.has(key)) this.keys.set(key, randomBytes(32));
    return this.keys.get(key)!;
  }

  private event(level: "info" | "warn" | "error", message: string, source = "vpn"): void {
    this.options.board.event(level, source, message);
  }
}

async function ip(args: readonly string[]): Promise<void> {
  const result = await run("ip", args, { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr.trim()}`);
}

async function namespacePids(namespace: string): Promise<number[]> {
  const listed = await run("ip", ["netns", "pids", namespace], { timeoutMs: 5_000 });
  return listed.code === 0 ? listed.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

/** SIGKILL to every process in the namespace, as when the machine under it is gone. */
async function killEverything(namespace: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const pids = await namespacePids(namespace);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await sleep(50);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
