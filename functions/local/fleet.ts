// The local fleet: the same control loops as in AWS, with local parts in place of AWS ones.
//
//   AWS                                   local
//   ---                                   ---
//   CodeCommit + referenceUpdated         a git repository; its branch ref watched (fs.watch on .git)
//   comments on the commit                git notes (refs/notes/proxy-fleet)
//   S3 config bucket                      a content-addressed folder (LocalBundleStore)
//   ECS service + NLB                     task generations of the in-task agent + front listeners
//   ECS deployment state change           the generation's health gate (LocalGenerations)
//   Route 53 / VPC resolver               an authoritative DNS server on 127.0.0.1 answering local-hosts.yaml
//
// The loops themselves are functions/rollout/run.ts, functions/rollout/watch.ts and functions/dns/sync.ts.
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { formatIssue } from "../fleet/issues.ts";
import { loadFleet, type ServiceModelOf } from "../fleet/load.ts";
import { MemoryTree } from "../fleet/tree.ts";
import { MemoryRolloutState } from "../rollout/memory.ts";
import type { BundlePin, EcsTarget, Publisher } from "../rollout/ports.ts";
import { reconcileRollout, type RolloutOutcome, type RolloutPorts } from "../rollout/run.ts";
import type { ResolvedTargets } from "../render/context.ts";
import { watchDeployment, type WatchOutcome, type WatchPorts } from "../rollout/watch.ts";
import { LocalDnsLoop, startLocalDnsServer, type LocalDnsServer } from "./dns.ts";
import { LocalGenerations, portClashes, type DeploymentEventName, type StrongswanDeployment } from "./generations.ts";
import { GitRepository, openOrCreateRepository, watchBranch } from "./git.ts";
import { changedNames, formatLocated, hostsFileText, parseZone, zoneTargets, type Zone } from "./hosts.ts";
import { StatusBoard, type LocalEvent, type LocalStatus, type TargetStatus } from "./status.ts";
import { LocalBundleStore } from "./store.ts";

export interface LocalFleetOptions {
  /** The config repository: a git repository, or where to create one from `seed`. */
  readonly repo: string;
  readonly branch: string;
  /** A folder whose files become the repository's first commit when `repo` is not a git repository yet. */
  readonly seed?: string;
  /** Generations, bundles and state live here. */
  readonly workDir: string;
  /** The local DNS zone (local-hosts.yaml). */
  readonly hostsFile: string;
  readonly portOffset: number;
  readonly generationOffsets?: readonly [number, number];
  readonly healthTimeoutMs?: number;
  readonly drainMs?: number;
  /** Lines for the terminal. */
  readonly out?: (line: string) => void;
  readonly board?: StatusBoard;
  /** How often names whose TTL ran out are looked up again. */
  readonly dnsIntervalMs?: number;
}

export type StrongswanDeployer = (service: string, model: ServiceModelOf<"strongswan">, pin: BundlePin) => Promise<StrongswanDeployment | undefined>;

export const DEFAULTS = { generationOffsets: [1000, 2000] as const, healthTimeoutMs: 20_000, drainMs: 30_000, dnsIntervalMs: 1_000 };

export class LocalFleet {
  readonly board: StatusBoard;
  readonly repository: GitRepository;
  readonly generations: LocalGenerations;
  readonly bundles: LocalBundleStore;
  readonly state = new MemoryRolloutState();
  readonly dnsServer: LocalDnsServer;
  readonly dns: LocalDnsLoop;
  private readonly options: LocalFleetOptions;
  private zone: Zone;
  private squidHosts: string;
  private chain: Promise<unknown> = Promise.resolve();
  private closers: Array<() => void> = [];
  private strongswanDeployer?: StrongswanDeployer;
  private readonly targetListeners: Array<(service: string, targets: ResolvedTargets) => Promise<void>> = [];
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** The first rollout at start has run. */
  private started = false;

  private constructor(options: LocalFleetOptions, board: StatusBoard, zone: Zone, dnsServer: LocalDnsServer) {
    this.options = options;
    this.board = board;
    this.zone = zone;
    this.squidHosts = hostsFileText(zoneTargets(zone));
    this.dnsServer = dnsServer;
    this.repository = new GitRepository(options.repo);
    this.bundles = new LocalBundleStore(join(resolve(options.workDir), "bucket"));
    this.generations = new LocalGenerations({
      workDir: options.workDir,
      board,
      bundles: this.bundles,
      portOffset: options.portOffset,
      generationOffsets: options.generationOffsets ?? DEFAULTS.generationOffsets,
      healthTimeoutMs: options.healthTimeoutMs ?? DEFAULTS.healthTimeoutMs,
      drainMs: options.drainMs ?? DEFAULTS.drainMs,
      targetsFor: (service) => this.dns.documents.targets(service),
      squidHosts: () => this.squidHosts,
      onDeploymentEnded: (id, eventName, reason) => this.deploymentEnded(id, eventName, reason),
      deployStrongswan: async (service, model, pin) => this.strongswanDeployer?.(service, model, pin),
    });
    this.dns = new LocalDnsLoop({
      config: this.bundles,
      resolver: dnsServer.address,
      apply: async (service, targets) => {
        await this.generations.applyTargets(service, targets);
        await Promise.all(this.targetListeners.map((listener) => listener(service, targets)));
      },
      onReport: (report) => this.showTargets(report.looked),
      onError: (error) => this.say("error", "dns", `DNS run failed: ${(error as Error).message}`),
    });
  }

  /** Opens (or creates) the repository, starts the DNS server, rolls out the branch head and starts watching. */
  static async start(options: LocalFleetOptions): Promise<LocalFleet> {
    const board = options.board ?? new StatusBoard();
    const { created } = await openOrCreateRepository(options.repo, options.branch, options.seed);
    const zone = await readZone(options.hostsFile, board, options.out);
    const server = await startLocalDnsServer(zone);
    const fleet = new LocalFleet(options, board, zone, server);
    if (options.out) fleet.closers.push(printEvents(board, options.out));
    board.update((s) => ({ ...s, repository: resolve(options.repo), branch: options.branch }));
    if (created) fleet.say("info", "rollout", `created the config repository ${resolve(options.repo)} (branch ${options.branch}) from ${options.seed}`);
    fleet.say("info", "dns", `authoritative DNS for ${Object.keys(zone).length} name(s) on ${server.address}`);
    try {
      await fleet.reconcile();
      fleet.started = true;
      fleet.watch();
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  /** One rollout run at the branch head, then its generations; serialized with every other run. */
  reconcile(): Promise<RolloutOutcome | undefined> {
    const next = this.chain.then(() => (this.stopped ? undefined : this.reconcileNow()));
    this.chain = next.catch((error: unknown) => this.say("error", "rollout", `rollout run failed: ${(error as Error).message}`));
    return next;
  }

  /** Resolves when every run asked for so far has ended. */
  async idle(): Promise<void> {
    for (let seen: Promise<unknown> | undefined; seen !== this.chain;) {
      seen = this.chain;
      await seen;
    }
  }

  /** Re-reads the zone file and runs the DNS loop for the names whose answers changed. */
  async zoneChanged(): Promise<void> {
    const zone = await readZone(this.options.hostsFile, this.board, this.options.out);
    const names = changedNames(this.zone, zone);
    this.zone = zone;
    this.dnsServer.setZone(zone);
    if (names.length === 0) return;
    this.say("info", "dns", `${this.options.hostsFile} changed: ${names.join(", ")}`);
    await this.dns.request({ scope: "names", names });
    const squidHosts = hostsFileText(zoneTargets(zone));
    if (squidHosts !== this.squidHosts) {
      // Squid reads its hosts_file at start only, and its reload refuses new connections: a new generation it is.
      this.squidHosts = squidHosts;
      const squids = this.board.snapshot().services.filter((s) => s.kind === "squid" && s.active).map((s) => s.service);
      await Promise.all(squids.map((s) => this.generations.replace(s, "its hosts file changed")));
    }
  }

  /** Also hands each changed runtime document to `listener`: services that run outside the generations (the VPN). */
  onTargets(listener: (service: string, targets: ResolvedTargets) => Promise<void>): void {
    this.targetListeners.push(listener);
  }

  /**
   * Hands each strongSwan deployment to `deployer`: where the service runs locally (the VPN), the deployment's end is
   * its outcome; otherwise (undefined) the service is only checked and the deployment completes.
   */
  onStrongswanDeploy(deployer: StrongswanDeployer): void {
    this.strongswanDeployer = deployer;
  }

  /** The local zone as name → addresses. */
  zoneTargets(): Record<string, string[]> {
    return zoneTargets(this.zone);
  }

  /** Synchronous first step of stopping (safe in a signal handler): no new run, no daemon restart. */
  shutdown(): void {
    this.stopped = true;
    this.generations.shutdown();
  }

  /** Stops every generation, front listener, watcher and the DNS server; a second call does nothing. */
  stop(): Promise<void> {
    return (this.stopping ??= this.stopOnce());
  }

  private async stopOnce(): Promise<void> {
    this.shutdown();
    await this.chain.catch(() => undefined);
    await this.generations.stop();
    await this.dnsServer.close();
    this.say("info", "rollout", "local fleet stopped");
    for (const close of this.closers.splice(0)) close();
  }

  private watch(): void {
    const branch = watchBranch(this.options.repo, this.options.branch, () => void this.reconcile());
    this.closers.push(() => branch.close());
    this.closers.push(watchFile(this.options.hostsFile, () => void this.zoneChanged().catch((error: unknown) => {
      this.say("error", "dns", `${this.options.hostsFile}: ${(error as Error).message}`);
    })));
    const timer = setInterval(() => void this.dns.request({ scope: "due" }), this.options.dnsIntervalMs ?? DEFAULTS.dnsIntervalMs);
    timer.unref();
    this.closers.push(() => clearInterval(timer));
  }

  private rolloutPorts(): RolloutPorts & WatchPorts {
    const events: Publisher = {
      publish: async (detailType, detail) => {
        const d = detail as { commit?: string; deployments?: Array<{ service: string; hash: string }>; reason?: string; service?: string };
        const what = d.deployments ? `: ${d.deployments.map((x) => `${x.service} ${x.hash.slice(0, 19)}`).join(", ") || "nothing to roll out"}`
          : d.service ? `: ${d.service}${d.reason ? ` (${d.reason.split("\n")[0]})` : ""}` : "";
        this.say(detailType.includes("Rejected") || detailType.includes("Failed") ? "error" : "info", "rollout",
          `${detailType} ${(d.commit ?? "").slice(0, 12)}${what}`);
      },
    };
    return {
      repository: this.repository,
      branch: this.options.branch,
      bundles: this.bundles,
      deployer: this.generations,
      state: this.state,
      events,
      targets: everyServiceTarget,
      accepted: this.bundles,
    };
  }

  private async reconcileNow(): Promise<RolloutOutcome> {
    const ports = this.rolloutPorts();
    const outcome = await reconcileRollout(ports);
    if (outcome.kind === "rejected") {
      const errors = outcome.errors.map((e) => ({ file: e.file, line: e.line, column: e.column, rule: e.rule, message: e.message }));
      this.board.recordRejected({ commit: outcome.commit, subject: await this.repository.subject(outcome.commit), at: Date.now(), errors });
      for (const e of outcome.errors) this.options.out?.(`  ${formatIssue(e)}\n`);
      this.say("error", "rollout", `${outcome.commit.slice(0, 12)} rejected: nothing rolled out (see the git note: git notes --ref=proxy-fleet show ${outcome.commit.slice(0, 12)})`);
      return outcome;
    }
    this.board.update((s) => ({
      ...s, headCommit: outcome.commit, ...(outcome.kind === "accepted" ? { acceptedCommit: outcome.commit } : {}),
    }));
    if (outcome.kind !== "accepted") return outcome;
    const clashes = await this.portClashes();
    if (clashes.length > 0) {
      // At start nothing runs yet: refuse, naming both services. Later the clashing generation fails its start.
      if (!this.started) throw new Error(clashes.join("\n"));
      for (const clash of clashes) this.say("error", "rollout", clash);
    }
    // The DNS loop runs after a rollout (its names may have changed), so new generations start with targets.
    await this.dns.request({ scope: "due" });
    await this.generations.startPending();
    return outcome;
  }

  private async portClashes(): Promise<string[]> {
    const snapshot = await this.bundles.load();
    const loaded = snapshot ? await loadFleet(new MemoryTree({ ...snapshot.files })) : undefined;
    if (!loaded?.ok) return [];
    return portClashes(loaded.model.services, this.options.portOffset, this.options.generationOffsets ?? DEFAULTS.generationOffsets);
  }

  private async deploymentEnded(deploymentId: string, eventName: DeploymentEventName, reason?: string): Promise<void> {
    const outcome: WatchOutcome = await watchDeployment({ eventName, deploymentId, ...(reason ? { reason } : {}) }, this.rolloutPorts());
    if (outcome.kind === "failed") {
      const failed = this.state.value.failed[outcome.service] ?? [];
      const current = this.board.snapshot().services.find((s) => s.service === outcome.service);
      if (current) this.board.setService({ ...current, failedHashes: [...failed] });
      this.say("error", "rollout", `${outcome.service}: ${outcome.hash.slice(0, 19)} pinned as failed; not retried until a commit changes it`);
    }
  }

  private showTargets(looked: ReadonlyArray<{ record: string; observation: string; answer: readonly string[] }>): void {
    const now = Date.now();
    const previous = new Map(this.board.snapshot().targets.map((t) => [t.name, t] as const));
    const byName = new Map(previous);
    for (const r of looked) {
      const name = r.record.replace(/\/(A|AAAA)$/, "");
      const documents = new Set<string>();
      for (const service of this.board.snapshot().services) {
        for (const address of this.dns.documents.targets(service.service)[name] ?? []) documents.add(address);
      }
      const addresses = documents.size > 0 ? [...documents].sort() : [...r.answer];
      const target: TargetStatus = {
        name, addresses,
        source: r.observation === "answer" ? "dns" : r.observation === "failure" ? "last-known-good" : r.observation,
        ...(this.zone[name] ? { ttlSeconds: this.zone[name].ttlSeconds } : {}),
        resolvedAt: now,
      };
      byName.set(name, target);
    }
    if (looked.length > 0) this.board.setTargets([...byName.values()]);
  }

  private say(level: "info" | "warn" | "error", source: string, message: string): void {
    this.board.event(level, source, message);
  }
}

/** Prints each new board event as a terminal line; returns the unsubscribe. */
function printEvents(board: StatusBoard, out: (line: string) => void): () => void {
  let newest = board.snapshot().events[0];
  const listener = (status: LocalStatus) => {
    const fresh: LocalEvent[] = [];
    for (const event of status.events) {
      if (event === newest) break;
      fresh.push(event);
    }
    newest = status.events[0];
    for (const e of fresh.reverse()) out(`${new Date(e.at).toISOString().slice(11, 23)} ${e.source}: ${e.level === "info" ? "" : `${e.level}: `}${e.message}\n`);
  };
  board.on("change", listener);
  return () => board.off("change", listener);
}

/** Every service has a place to run locally: the generations, or for strongSwan ones the local VPN (or only checks). */
const everyServiceTarget: Readonly<Record<string, EcsTarget>> = new Proxy({}, {
  get: (_, service) => (typeof service === "string" ? { cluster: "local", service, container: "agent" } : undefined),
});

async function readZone(file: string, board: StatusBoard, out?: (line: string) => void): Promise<Zone> {
  const { zone, errors } = parseZone(await readFile(file, "utf8"), file);
  for (const e of errors) {
    board.event("error", "dns", formatLocated(e));
    out?.(`error: ${formatLocated(e)}\n`);
  }
  return zone;
}

/** Watches one file through its folder (editors replace files rather than write them), debounced. */
function watchFile(file: string, onChange: () => void, debounceMs = 150): () => void {
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dirname(resolve(file)), { persistent: false }, (_event, name) => {
    if (name !== basename(file)) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
