// The local stand-in for ECS: the Deployer port over task generations on this machine. Each generation of a
// service is the in-task agent (containers/agent/agent.ts) with its own folders, listening on internal ports;
// a front listener per service port (the load balancer) sends new connections to the active generation.
//
//   rollout step   what happens                                                   bound
//   ------------   ------------                                                   -----
//   start          new generation on its ports (the other band than the active)   healthTimeoutMs, with health
//   health         agent healthy and a TCP connect to each of its ports works     healthTimeoutMs (from start)
//   shift          the front listeners send new connections to it                 —
//   drain          the old generation's open connections end; then it stops       drainMs, then what is left is cut
//
// A generation that never gets healthy is stopped and the old one keeps serving; the rollout watch is told the
// deployment failed, which pins its bundle hash as failed, as ECS's circuit breaker does in AWS. A daemon that
// dies in a running generation is restarted with backoff (the ECS task restarting).
import { rm, mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { Agent, type AgentOptions } from "../../containers/agent/agent.ts";
import { verifyBundle } from "../../containers/agent/bundle.ts";
import type { ServiceModel, ServiceModelOf } from "../fleet/load.ts";
import { listenPorts, localPortClashes, shiftPorts } from "../fleet/listeners.ts";
import { renderBundle } from "../render/bundle.ts";
import type { ResolvedTargets } from "../render/context.ts";
import type { BundlePin, Deployer, EcsTarget } from "../rollout/ports.ts";
import { ConnectionSet, FrontListener } from "./front.ts";
import type { GenerationStatus, ServiceHealth, StatusBoard } from "./status.ts";
import type { LocalBundleStore } from "./store.ts";

export interface GenerationsOptions {
  readonly workDir: string;
  readonly board: StatusBoard;
  readonly bundles: LocalBundleStore;
  /** Front port = the config's port + portOffset. */
  readonly portOffset: number;
  /**
   * A generation's port = the config's port + portOffset + one of these, alternating (blue/green): the new
   * generation always has ports the active one does not use.
   */
  readonly generationOffsets: readonly [number, number];
  readonly healthTimeoutMs: number;
  readonly drainMs: number;
  /** The service's runtime targets now (the DNS loop's last document). */
  readonly targetsFor: (service: string) => ResolvedTargets;
  /** The hosts file text a new Squid generation reads (the local zone). */
  readonly squidHosts: () => string;
  /** How a deployment ended, as ECS reports it (SERVICE_DEPLOYMENT_COMPLETED / _FAILED). */
  readonly onDeploymentEnded: (deploymentId: string, eventName: DeploymentEventName, reason?: string) => Promise<void>;
  readonly restartBackoffMs?: { readonly first: number; readonly max: number };
  /**
   * Deploys a strongSwan service where it runs on this machine (the local VPN); undefined when nothing runs it
   * here (it is only checked), and the deployment completes as before.
   */
  readonly deployStrongswan?: (service: string, model: ServiceModelOf<"strongswan">, pin: BundlePin) => Promise<StrongswanDeployment | undefined>;
}

/** How a strongSwan deployment on this machine ended (the local VPN's own outcome). */
export type StrongswanDeployment =
  | { readonly kind: "completed"; readonly detail: string }
  | { readonly kind: "failed"; readonly reason: string }
  | { readonly kind: "cut-short"; readonly reason: string };

export type DeploymentEventName = "SERVICE_DEPLOYMENT_COMPLETED" | "SERVICE_DEPLOYMENT_FAILED";

interface Revision {
  readonly service: string;
  readonly pin: BundlePin;
}

interface PendingDeployment extends Revision {
  readonly deploymentId: string;
}

/** One task generation: an agent on its own ports, and the connections the front listeners opened to it. */
class Generation {
  readonly number: number;
  readonly hash: string;
  readonly commit: string;
  readonly model: ServiceModel;
  /** Config port → this generation's port. */
  readonly portMap: ReadonlyMap<number, number>;
  readonly connections = new ConnectionSet();
  readonly agentOptions: AgentOptions;
  readonly bundle: ReturnType<typeof renderBundle>;
  agent: Agent | undefined;
  health: ServiceHealth = "starting";
  restarts = 0;
  lastRestartReason: string | undefined;
  stopping = false;

  constructor(init: {
    number: number; hash: string; commit: string; model: ServiceModel; portMap: Map<number, number>; agentOptions: AgentOptions;
    bundle: ReturnType<typeof renderBundle>;
  }) {
    this.number = init.number;
    this.hash = init.hash;
    this.commit = init.commit;
    this.model = init.model;
    this.portMap = init.portMap;
    this.agentOptions = init.agentOptions;
    this.bundle = init.bundle;
  }

  get ports(): number[] {
    return [...this.portMap.values()];
  }

  status(): GenerationStatus {
    return {
      generation: this.number, hash: this.hash, commit: this.commit, health: this.health, ports: this.ports, restarts: this.restarts,
      ...(this.lastRestartReason ? { lastRestartReason: this.lastRestartReason } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.health = "stopped";
    await this.agent?.stop();
  }
}

class ServiceRuntime {
  readonly name: string;
  kind: ServiceModel["kind"] = "haproxy";
  readonly fronts = new Map<number, FrontListener>();
  active: Generation | undefined;
  readonly others = new Set<Generation>();
  /** Serializes this service's rollouts: one writer per service. */
  chain: Promise<void> = Promise.resolve();
  generations = 0;
  /** The revision the active generation runs, for a restart of the same config (Squid's hosts file). */
  revision: Revision | undefined;

  constructor(name: string) {
    this.name = name;
  }
}

export interface RolloutTimings {
  readonly healthyMs: number;
  readonly shiftedMs: number;
  readonly drainedMs: number;
}

export class LocalGenerations implements Deployer {
  private readonly options: GenerationsOptions;
  private readonly services = new Map<string, ServiceRuntime>();
  private readonly revisions = new Map<string, Revision>();
  private pending: PendingDeployment[] = [];
  private revisionCount = 0;
  private deploymentCount = 0;
  private stopped = false;
  /** Agents that started after their generation gave up on them, being stopped: stop() waits for these too. */
  private readonly lateStops = new Set<Promise<void>>();

  constructor(options: GenerationsOptions) {
    this.options = options;
  }

  async registerRevision(target: EcsTarget, pin: BundlePin): Promise<string> {
    const arn = `local:task-definition/${target.service}:${++this.revisionCount}`;
    this.revisions.set(arn, { service: target.service, pin });
    return arn;
  }

  /** Queues the rollout; `startPending` runs it once the rollout run has recorded the deployment. */
  async updateService(target: EcsTarget, taskDefinitionArn: string): Promise<string> {
    const revision = this.revisions.get(taskDefinitionArn);
    if (!revision) throw new Error(`unknown task definition ${taskDefinitionArn}`);
    const deploymentId = `local-${target.service}-${++this.deploymentCount}`;
    this.pending.push({ ...revision, deploymentId });
    return deploymentId;
  }

  /** Starts every queued rollout (each service's in order, services side by side); resolves when all ended. */
  async startPending(): Promise<void> {
    const batch = this.pending.splice(0);
    await Promise.all(batch.map((deployment) => this.enqueue(deployment.service, async () => {
      try {
        await this.rollout(deployment);
      } catch (error) {
        // Anything unforeseen (a bundle missing from the store) fails this deployment only, as a task would.
        const reason = firstLines((error as Error).message ?? String(error));
        this.options.board.event("error", "rollout", `${deployment.service}: ${reason}`);
        await this.options.onDeploymentEnded(deployment.deploymentId, "SERVICE_DEPLOYMENT_FAILED", reason);
      }
    })));
  }

  /** A new generation of the same config (the ECS "force new deployment"): Squid re-reads its hosts file so. */
  async replace(service: string, why: string): Promise<void> {
    const runtime = this.services.get(service);
    const revision = runtime?.revision;
    if (!runtime || !revision) return;
    this.options.board.event("info", "rollout", `${service}: new generation of the same config (${why})`);
    await this.enqueue(service, () => this.rollout({ ...revision, deploymentId: `local-${service}-replace-${++this.deploymentCount}` }, { report: false }));
  }

  /** Applies a runtime target document to every running generation of the service (hitless reloads). */
  async applyTargets(service: string, targets: ResolvedTargets): Promise<void> {
    const runtime = this.services.get(service);
    if (!runtime) return;
    for (const generation of [runtime.active, ...runtime.others]) {
      if (!generation?.agent || generation.stopping) continue;
      const result = await generation.agent.applyTargets(targets);
      if (result.applied) this.options.board.event("info", "dns", `${service}: generation ${generation.number} applied new targets (${result.reason})`);
      else if (result.reason !== "unchanged" && !result.reason.startsWith("squid")) {
        this.options.board.event("warn", "dns", `${service}: generation ${generation.number} kept its targets: ${result.reason}`);
      }
    }
  }

  /** The generation serving new connections of a service, for tests and the CLI. */
  activeGeneration(service: string): GenerationStatus | undefined {
    return this.services.get(service)?.active?.status();
  }

  frontPorts(service: string): number[] {
    return [...(this.services.get(service)?.fronts.keys() ?? [])].map((p) => p + this.options.portOffset);
  }

  /**
   * From now on a daemon that exits is not restarted. Synchronous, for a signal handler: Ctrl-C reaches the
   * daemons too (they share the terminal's process group), and their exits must not read as crashes.
   */
  shutdown(): void {
    this.stopped = true;
    for (const runtime of this.services.values()) {
      for (const g of [runtime.active, ...runtime.others]) {
        if (!g) continue;
        g.stopping = true;
        // A drain in progress ends now instead of waiting out drainMs.
        g.connections.destroyAll();
      }
    }
  }

  /**
   * Every generation and front listener, stopped; waits for rollouts in flight to end first (bounded by theirs), and
   * for agents that started too late for their generation to be stopped.
   */
  async stop(): Promise<void> {
    this.shutdown();
    await Promise.all([...this.services.values()].map((s) => s.chain));
    await Promise.all(this.lateStops);
    await Promise.all([...this.services.values()].map(async (runtime) => {
      await Promise.all([...runtime.fronts.values()].map((f) => f.close()));
      runtime.fronts.clear();
      const all = [runtime.active, ...runtime.others].filter((g): g is Generation => g !== undefined);
      for (const g of all) g.connections.destroyAll();
      await Promise.all(all.map((g) => g.stop()));
      runtime.active = undefined;
      runtime.others.clear();
      if (runtime.generations > 0) this.publish(runtime);
    }));
  }

  private enqueue(service: string, step: () => Promise<void>): Promise<void> {
    let runtime = this.services.get(service);
    if (!runtime) this.services.set(service, (runtime = new ServiceRuntime(service)));
    const chain = runtime.chain.then(step, step);
    runtime.chain = chain;
    return chain;
  }

  private async rollout(deployment: PendingDeployment, options: { report?: boolean } = {}): Promise<void> {
    const report = options.report ?? true;
    const started = Date.now();
    const { service, pin } = deployment;
    const end = async (eventName: DeploymentEventName, reason?: string) => {
      if (report) await this.options.onDeploymentEnded(deployment.deploymentId, eventName, reason);
    };
    if (this.stopped) return;
    const model = verifyBundle(await this.options.bundles.getBundle(pin.key), pin.hash);
    if (model.kind === "strongswan") {
      // IPsec needs its own host and network: locally it runs in namespaces (the local VPN), or is only checked.
      await this.rolloutStrongswan(model, pin, started, end);
      return;
    }
    const runtime = this.services.get(service)!;
    runtime.kind = model.kind;
    const board = this.options.board;
    board.recordRollout({ commit: pin.commit, service, hash: pin.hash, outcome: "in-progress", startedAt: started });
    const generation = await this.prepare(runtime, model, pin);
    runtime.others.add(generation);
    this.publish(runtime);
    const healthy = await this.startHealthy(generation);
    if (!healthy.ok) {
      runtime.others.delete(generation);
      await generation.stop();
      this.publish(runtime);
      // Cut short by stopping the fleet: not the version's fault, so nothing is pinned.
      if (this.stopped) return;
      const detail = `generation ${generation.number} never became healthy: ${healthy.reason}`;
      board.event("error", "rollout", `${service}: ${detail}; generation ${runtime.active?.number ?? "none"} keeps serving`);
      board.recordRollout({
        commit: pin.commit, service, hash: pin.hash, outcome: "rolled-back", startedAt: started, finishedAt: Date.now(), detail,
        timings: { failedAfterMs: Date.now() - started },
      });
      await end("SERVICE_DEPLOYMENT_FAILED", detail);
      return;
    }
    const healthyAt = Date.now();
    const opened = await this.openFronts(runtime, generation);
    if (!opened.ok) {
      runtime.others.delete(generation);
      await generation.stop();
      this.publish(runtime);
      board.recordRollout({ commit: pin.commit, service, hash: pin.hash, outcome: "rolled-back", startedAt: started, finishedAt: Date.now(), detail: opened.reason });
      await end("SERVICE_DEPLOYMENT_FAILED", opened.reason);
      return;
    }
    // The shift: from here on new connections go to the new generation.
    const previous = runtime.active;
    runtime.active = generation;
    runtime.others.delete(generation);
    runtime.revision = { service, pin };
    if (previous) runtime.others.add(previous);
    this.supervise(runtime, generation);
    this.publish(runtime);
    const shiftedAt = Date.now();
    await this.closeUnusedFronts(runtime, generation);
    if (previous) await this.drain(runtime, previous);
    const drainedAt = Date.now();
    const timings = { healthyMs: healthyAt - started, shiftedMs: shiftedAt - started, drainedMs: drainedAt - started };
    board.recordRollout({ commit: pin.commit, service, hash: pin.hash, outcome: "succeeded", startedAt: started, finishedAt: drainedAt, timings });
    board.event("info", "rollout", `${service}: generation ${generation.number} serving ${pin.hash.slice(0, 19)} (healthy in ${timings.healthyMs} ms)`);
    await end("SERVICE_DEPLOYMENT_COMPLETED");
  }

  /** The local VPN replaces the service on its instance; its outcome is the deployment's, as ECS's would be. */
  private async rolloutStrongswan(
    model: ServiceModelOf<"strongswan">, pin: BundlePin, started: number,
    end: (eventName: DeploymentEventName, reason?: string) => Promise<void>,
  ): Promise<void> {
    const board = this.options.board;
    const service = model.name;
    const record = (outcome: "in-progress" | "succeeded" | "rolled-back", detail?: string) => board.recordRollout({
      commit: pin.commit, service, hash: pin.hash, outcome, startedAt: started,
      ...(outcome === "in-progress" ? {} : { finishedAt: Date.now(), timings: { [outcome === "succeeded" ? "tunnelsUpMs" : "failedAfterMs"]: Date.now() - started } }),
      ...(detail ? { detail } : {}),
    });
    const deploying = this.options.deployStrongswan?.(service, model, pin);
    if (deploying) record("in-progress");
    const outcome = await deploying;
    if (!outcome) {
      await end("SERVICE_DEPLOYMENT_COMPLETED");
      return;
    }
    // Cut short by stopping the fleet: not the version's fault, so nothing is pinned.
    if (outcome.kind === "cut-short") return;
    if (outcome.kind === "failed") {
      record("rolled-back", outcome.reason);
      await end("SERVICE_DEPLOYMENT_FAILED", outcome.reason);
      return;
    }
    record("succeeded");
    await end("SERVICE_DEPLOYMENT_COMPLETED");
  }

  private async prepare(runtime: ServiceRuntime, model: ServiceModel, pin: BundlePin): Promise<Generation> {
    const number = ++runtime.generations;
    const offset = this.options.portOffset + this.options.generationOffsets[number % 2]!;
    const shifted = shiftPorts(model, offset);
    const dir = resolve(this.options.workDir, "services", runtime.name, `generation-${number}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, "run"), { recursive: true });
    let squidHostsFile: string | undefined;
    if (model.kind === "squid") {
      squidHostsFile = join(dir, "squid-hosts");
      await writeFile(squidHostsFile, this.options.squidHosts());
    }
    const portMap = new Map(listenPorts(model).map((port, i) => [port, listenPorts(shifted)[i]!] as const));
    return new Generation({
      number, hash: pin.hash, commit: pin.commit, model: shifted, portMap, bundle: renderBundle(shifted),
      agentOptions: {
        bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), logDir: join(dir, "run"), listenAddress: "127.0.0.1",
        targets: this.options.targetsFor(runtime.name), ...(squidHostsFile ? { squidHostsFile } : {}),
      },
    });
  }

  /** Starts the agent and waits for health, all within healthTimeoutMs. */
  private async startHealthy(generation: Generation): Promise<{ ok: true } | { ok: false; reason: string }> {
    const deadline = Date.now() + this.options.healthTimeoutMs;
    const starting = Agent.start({ fetch: async () => generation.bundle }, generation.agentOptions);
    const outcome = await Promise.race([
      starting.then((agent) => ({ agent }), (error: unknown) => ({ error: firstLines((error as Error).message ?? String(error)) })),
      sleep(this.options.healthTimeoutMs).then(() => ({ timeout: true as const })),
    ]);
    if ("timeout" in outcome) {
      // Stopped whenever it does start; the fleet's stop waits for that.
      const late = starting.then((agent) => agent.stop(), () => undefined).finally(() => this.lateStops.delete(late));
      this.lateStops.add(late);
      return { ok: false, reason: `not started within ${this.options.healthTimeoutMs} ms` };
    }
    if ("error" in outcome) return { ok: false, reason: outcome.error };
    generation.agent = outcome.agent;
    for (;;) {
      const closed: number[] = [];
      for (const port of generation.ports) if (!(await accepts(port))) closed.push(port);
      const alive = outcome.agent.health().ok;
      if (alive && closed.length === 0) {
        generation.health = "healthy";
        return { ok: true };
      }
      if (!alive || Date.now() >= deadline || this.stopped) {
        generation.health = "unhealthy";
        const why = !alive ? `the daemon exited:\n${firstLines(outcome.agent.output())}` : `port(s) ${closed.join(", ")} refuse connections`;
        return { ok: false, reason: why };
      }
      await sleep(50);
    }
  }

  private async openFronts(runtime: ServiceRuntime, generation: Generation): Promise<{ ok: true } | { ok: false; reason: string }> {
    for (const configPort of generation.portMap.keys()) {
      if (runtime.fronts.has(configPort)) continue;
      const port = configPort + this.options.portOffset;
      try {
        runtime.fronts.set(configPort, await FrontListener.listen(port, () => {
          const active = runtime.active;
          const target = active?.portMap.get(configPort);
          return active && target !== undefined ? { port: target, connections: active.connections } : undefined;
        }));
      } catch (error) {
        return { ok: false, reason: `front listener 127.0.0.1:${port} could not listen: ${(error as Error).message}` };
      }
    }
    return { ok: true };
  }

  private async closeUnusedFronts(runtime: ServiceRuntime, generation: Generation): Promise<void> {
    for (const [configPort, front] of runtime.fronts) {
      if (generation.portMap.has(configPort)) continue;
      runtime.fronts.delete(configPort);
      await front.close();
    }
  }

  private async drain(runtime: ServiceRuntime, generation: Generation): Promise<void> {
    generation.health = "draining";
    this.publish(runtime);
    const drained = await generation.connections.drained(this.options.drainMs);
    if (!drained) {
      this.options.board.event("warn", "rollout",
        `${runtime.name}: generation ${generation.number} still had ${generation.connections.size / 2} connection(s) after ${this.options.drainMs} ms; cut`);
      generation.connections.destroyAll();
    }
    await generation.stop();
    runtime.others.delete(generation);
    this.publish(runtime);
  }

  /** Restarts the daemon of a running generation when it dies, with backoff; stops when the generation stops. */
  private supervise(runtime: ServiceRuntime, generation: Generation): void {
    const backoff = this.options.restartBackoffMs ?? { first: 500, max: 30_000 };
    const watch = (agent: Agent) => {
      void agent.exited.then(async (exit) => {
        if (generation.stopping) return;
        const reason = exit.error ?? `exited with code ${exit.code}, signal ${exit.signal}`;
        generation.health = "unhealthy";
        this.options.board.event("warn", "supervisor", `${runtime.name}: generation ${generation.number}'s ${runtime.kind} ${reason}; restarting`);
        for (let delay = backoff.first; !generation.stopping; delay = Math.min(backoff.max, delay * 2)) {
          await sleep(delay);
          if (generation.stopping) return;
          generation.restarts += 1;
          generation.lastRestartReason = reason;
          try {
            const restarted = await Agent.start({ fetch: async () => generation.bundle }, {
              ...generation.agentOptions, targets: this.options.targetsFor(runtime.name),
            });
            if (generation.stopping) {
              await restarted.stop();
              return;
            }
            generation.agent = restarted;
            generation.health = "healthy";
            this.publish(runtime);
            this.options.board.event("info", "supervisor", `${runtime.name}: generation ${generation.number} restarted (restart ${generation.restarts})`);
            watch(restarted);
            return;
          } catch (error) {
            this.publish(runtime);
            this.options.board.event("error", "supervisor", `${runtime.name}: restart ${generation.restarts} failed: ${firstLines((error as Error).message)}`);
          }
        }
      });
    };
    if (generation.agent) watch(generation.agent);
  }

  private publish(runtime: ServiceRuntime): void {
    const board = this.options.board;
    const failedHashes = board.snapshot().services.find((s) => s.service === runtime.name)?.failedHashes ?? [];
    board.setService({
      service: runtime.name,
      kind: runtime.kind,
      ports: [...runtime.fronts.keys()].map((p) => p + this.options.portOffset),
      ...(runtime.active ? { active: runtime.active.status() } : {}),
      others: [...runtime.others].map((g) => g.status()),
      failedHashes,
    });
  }
}

/**
 * Services that would need the same port on this machine: their front ports (as `fleet local` always checked), and
 * the ports their generations take (front port + each generation offset). One sentence per clash, naming both.
 */
export function portClashes(services: readonly ServiceModel[], portOffset: number, generationOffsets: readonly number[]): string[] {
  const running = services.filter((s) => s.kind !== "strongswan");
  const clashes = localPortClashes(running, portOffset);
  const owners = new Map<number, { service: string; what: string }>();
  for (const service of running) {
    for (const port of listenPorts(service)) {
      const taken = [
        { port: port + portOffset, what: `front port ${port + portOffset}` },
        ...generationOffsets.map((g) => ({ port: port + portOffset + g, what: `generation port ${port + portOffset + g}` })),
      ];
      for (const { port: p, what } of taken) {
        const owner = owners.get(p);
        if (owner && owner.service !== service.name && !(owner.what.startsWith("front") && what.startsWith("front"))) {
          clashes.push(`services ${owner.service} and ${service.name} both need port ${p} on 127.0.0.1 (${owner.what} of ${owner.service}, ${what} of ${service.name}); give one of them another port`);
        } else if (!owner) {
          owners.set(p, { service: service.name, what });
        }
      }
    }
  }
  return clashes;
}

/** True when 127.0.0.1:port accepts a TCP connection within a second. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function firstLines(text: string, lines = 12): string {
  return text.split("\n").slice(0, lines).join("\n");
}
