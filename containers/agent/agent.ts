// The in-task config agent: starts a data plane from a verified bundle and applies runtime targets live.
//
//   kind         start                     runtime targets
//   ----         -----                     ---------------
//   haproxy      haproxy -W -S (master)    re-render, haproxy -c, swap, master CLI "reload" (hitless)
//   nginx        nginx -g 'daemon off;'    re-render, nginx -t, swap, nginx -s reload (hitless)
//   squid        squid -N                  none: its reload refuses new connections for ~20 ms, so
//                                          changes arrive by task replacement
//
// A candidate config that fails the daemon's own check never replaces the running one.
import { chown, mkdir, rename, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { ServiceModel } from "../../functions/fleet/load.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith, type RenderContext, type ResolvedTargets } from "../../functions/render/context.ts";
import { BundleRefused, verifyBundle, type BundleSource } from "./bundle.ts";
import { checkHaproxy, checkNginx, checkSquid, type CheckResult } from "./checks.ts";
import { DRAIN_SIGNAL, STOP_SIGNAL, haproxyUserConfig, startHaproxy, startNginx, startSquid } from "./daemons.ts";
import { haproxyStatMetrics, isDeniedRequest, type MetricValues } from "./metrics.ts";
import { run, userIds, waitFor, type Daemon, type DaemonExit } from "./process.ts";

export interface AgentOptions {
  readonly bundleDir: string;
  readonly runDir: string;
  readonly logDir?: string;
  readonly listenAddress?: string;
  /** The hash the task definition pins; a bundle with any other hash is refused. */
  readonly pinnedHash?: string;
  /** Targets to start with (the runtime document as it stands). */
  readonly targets?: ResolvedTargets;
  readonly squidHostsFile?: string;
  /** The load balancer's subnets (PROXY_FLEET_PROXY_PROTOCOL_FROM): listeners require PROXY v2 from them only. */
  readonly proxyProtocolFrom?: readonly string[];
  /** The kind this image runs (PROXY_FLEET_KIND); a bundle of another kind is refused before anything starts. */
  readonly expectedKind?: string;
  /** Receives each line the daemon writes, with the daemon's name (the container prints them as JSON lines). */
  readonly onDaemonLine?: (daemon: string, line: string) => void;
}

export interface ApplyResult {
  readonly applied: boolean;
  readonly reason: string;
}

const MAIN_FILE = { haproxy: "haproxy.cfg", nginx: "nginx.conf", squid: "squid.conf" } as const;

export class Agent {
  readonly model: ServiceModel;
  readonly hash: string;
  private files: Record<string, string>;
  private targets: ResolvedTargets;
  private daemon: Daemon | undefined;
  private masterSocket: string | undefined;
  private haproxyExtraConfigs: string[] = [];
  private readonly options: AgentOptions;
  private lastApply: ApplyResult = { applied: true, reason: "started" };
  /** Squid access-log lines of denied requests since the last sample. */
  private deniedSinceSample = 0;

  private constructor(model: ServiceModel, hash: string, options: AgentOptions) {
    this.model = model;
    this.hash = hash;
    this.options = options;
    this.targets = options.targets ?? {};
    this.files = {};
  }

  /** Fetches, verifies, renders, checks and starts; throws (and starts nothing) on any failure. */
  static async start(source: BundleSource, options: AgentOptions): Promise<Agent> {
    const bundle = await source.fetch();
    const model = verifyBundle(bundle, options.pinnedHash);
    if (options.expectedKind && model.kind !== options.expectedKind) {
      throw new BundleRefused(`bundle ${bundle.service} (${bundle.hash}) is a ${model.kind} service, but this image runs ${options.expectedKind}`);
    }
    if (model.kind === "strongswan") throw new BundleRefused(`bundle ${bundle.service} is a strongswan service: it runs with the strongSwan agent (strongswan-main.ts)`);
    const agent = new Agent(model, bundle.hash, options);
    await mkdir(options.bundleDir, { recursive: true });
    await mkdir(options.runDir, { recursive: true });
    // Squid writes its pid file and core dumps as `proxy` once it has dropped root.
    const proxy = model.kind === "squid" && process.getuid?.() === 0 ? userIds("proxy") : undefined;
    if (proxy) await chown(options.runDir, proxy.uid, proxy.gid);
    const files = agent.render(agent.targets);
    await agent.writeAll(files);
    const userConfig = model.kind === "haproxy" ? haproxyUserConfig() : undefined;
    if (userConfig) {
      agent.haproxyExtraConfigs = [join(options.runDir, "haproxy-user.cfg")];
      await writeFile(agent.haproxyExtraConfigs[0]!, userConfig);
    }
    const check = await agent.check(join(options.bundleDir, agent.mainFile()));
    if (!check.ok) throw new Error(`${model.kind} refused the configuration of ${model.name}:\n${check.output}`);
    agent.files = files;
    try {
      await agent.launch();
    } catch (error) {
      // A start that fails after the daemon was spawned (its socket never answered) must not leave it running.
      await agent.stop();
      throw error;
    }
    return agent;
  }

  /** Applies a new runtime target document; a no-op when the rendered files would not change. */
  async applyTargets(targets: ResolvedTargets): Promise<ApplyResult> {
    if (this.model.kind === "squid") return this.record({ applied: false, reason: "squid changes only by task replacement" });
    const files = this.render(targets);
    if (isDeepStrictEqual(files, this.files)) {
      this.targets = targets;
      return this.record({ applied: false, reason: "unchanged" });
    }
    const main = this.mainFile();
    const candidate = join(this.options.bundleDir, `${main}.candidate`);
    for (const [name, content] of Object.entries(files)) {
      if (name !== main && content !== this.files[name]) await writeFile(join(this.options.bundleDir, name), content);
    }
    await writeFile(candidate, files[main]!);
    const check = await this.check(candidate);
    if (!check.ok) return this.record({ applied: false, reason: `candidate refused by ${this.model.kind}, the running config stays:\n${check.output}` });
    await rename(candidate, join(this.options.bundleDir, main));
    await this.reload();
    this.files = files;
    this.targets = targets;
    return this.record({ applied: true, reason: "reloaded" });
  }

  health(): { ok: boolean; service: string; kind: string; hash: string; lastApply: ApplyResult } {
    const alive = this.daemon?.running() ?? false;
    return { ok: alive, service: this.model.name, kind: this.model.kind, hash: this.hash, lastApply: this.lastApply };
  }

  /**
   * The data plane's gauges now: HAProxy's current sessions and servers up/down (`show stat` on the stats
   * socket the renderer declares in the run directory), Squid's denied requests since the last sample.
   * NGINX has none in the metric contract.
   */
  async sample(): Promise<MetricValues> {
    if (this.model.kind === "haproxy") return haproxyStatMetrics(await masterCommand(join(this.options.runDir, "haproxy.sock"), "show stat", 5_000));
    if (this.model.kind === "squid") {
      const denied = this.deniedSinceSample;
      this.deniedSinceSample = 0;
      return { RequestsDenied: denied };
    }
    return {};
  }

  /** Resolves when the daemon exits, whether asked to or not. */
  get exited(): Promise<DaemonExit> {
    return this.daemon!.exited;
  }

  /**
   * Stops the daemon at once (its STOP_SIGNAL, then SIGKILL after 5 s): after a drain, or when it must not serve.
   * Squid then does not wait out its shutdown_lifetime.
   */
  async stop(): Promise<void> {
    await this.daemon?.stop(STOP_SIGNAL[this.model.kind as keyof typeof STOP_SIGNAL]);
  }

  /**
   * Stops the daemon gracefully: it stops accepting, open connections may finish for up to `drainMs`, then
   * what remains is cut (SIGTERM, then SIGKILL).
   */
  async drain(drainMs: number): Promise<DaemonExit | undefined> {
    const daemon = this.daemon;
    if (!daemon) return undefined;
    const signal = DRAIN_SIGNAL[this.model.kind as keyof typeof DRAIN_SIGNAL];
    await daemon.stop(signal, drainMs);
    return daemon.exited;
  }

  /** The last lines the daemon wrote (bounded). */
  output(): string {
    return this.daemon?.output() ?? "";
  }

  private record(result: ApplyResult): ApplyResult {
    this.lastApply = result;
    return result;
  }

  private context(targets: ResolvedTargets): RenderContext {
    const o = this.options;
    return contextWith({
      bundleDir: o.bundleDir, runDir: o.runDir, targets,
      ...(o.logDir ? { logDir: o.logDir } : {}),
      ...(o.listenAddress ? { listenAddress: o.listenAddress } : {}),
      ...(o.squidHostsFile ? { squidHostsFile: o.squidHostsFile } : {}),
      ...(o.proxyProtocolFrom ? { proxyProtocolFrom: o.proxyProtocolFrom } : {}),
    });
  }

  private render(targets: ResolvedTargets): Record<string, string> {
    return renderFiles(this.model, this.context(targets));
  }

  private mainFile(): string {
    return MAIN_FILE[this.model.kind as keyof typeof MAIN_FILE];
  }

  private async writeAll(files: Record<string, string>): Promise<void> {
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.options.bundleDir, name), content);
  }

  private check(file: string): Promise<CheckResult> {
    switch (this.model.kind) {
      case "haproxy": return checkHaproxy(file, this.haproxyExtraConfigs);
      case "nginx": return checkNginx(file, this.options.runDir);
      default: return checkSquid(file);
    }
  }

  private async launch(): Promise<void> {
    const file = join(this.options.bundleDir, this.mainFile());
    const sink = this.options.onDaemonLine;
    const output = {
      onLine: (line: string) => {
        if (this.model.kind === "squid" && isDeniedRequest(line)) this.deniedSinceSample += 1;
        sink?.(this.model.kind, line);
      },
    };
    if (this.model.kind === "haproxy") {
      const haproxy = startHaproxy(file, this.options.runDir, { ...output, extraConfigs: this.haproxyExtraConfigs });
      this.masterSocket = haproxy.masterSocket;
      this.daemon = haproxy;
      await waitFor("the HAProxy master socket", async () => !haproxy.running() || (await masterAnswers(haproxy.masterSocket)), 10_000);
    } else if (this.model.kind === "nginx") {
      this.daemon = startNginx(file, this.options.runDir, output);
    } else {
      this.daemon = startSquid(file, output);
    }
    // A daemon that dies while starting (a port in use, a missing binary) fails the start with its own words.
    const early = await Promise.race([this.daemon.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300))]);
    if (early) {
      throw new Error(`${this.model.kind} exited while starting (${early.error ?? `code ${early.code}, signal ${early.signal}`}):\n${this.daemon.output()}`);
    }
  }

  private async reload(): Promise<void> {
    if (this.model.kind === "haproxy") {
      // The master re-executes itself on reload and its socket refuses connections meanwhile: wait until it
      // answers again, so the next reload (or stop) finds it.
      const socket = this.masterSocket!;
      await waitFor("the HAProxy master socket", () => masterAnswers(socket), 10_000);
      await masterCommand(socket, "reload");
      await waitFor("the HAProxy master after reload", () => masterAnswers(socket), 10_000);
      return;
    }
    const r = await run("nginx", ["-p", this.options.runDir, "-c", join(this.options.bundleDir, this.mainFile()), "-s", "reload"], { discardStdout: true });
    if (r.code !== 0) throw new Error(`nginx -s reload failed: ${r.stderr}`);
  }
}

/**
 * Sends one command to an HAProxy CLI socket (the master's, or a worker's stats socket) and returns its
 * answer; with `timeoutMs`, a socket that does not answer in time fails the call instead of holding it.
 */
export function masterCommand(socket: string, command: string, timeoutMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = connect(socket, () => client.end(`${command}\n`));
    let answer = "";
    if (timeoutMs !== undefined) client.setTimeout(timeoutMs, () => client.destroy(new Error(`${socket}: no answer to "${command}" within ${timeoutMs} ms`)));
    client.on("data", (chunk: Buffer) => (answer += chunk.toString()));
    client.on("close", (hadError) => { if (!hadError) resolve(answer); });
    client.on("error", reject);
  });
}

async function masterAnswers(socket: string): Promise<boolean> {
  try {
    return (await masterCommand(socket, "show proc")).includes("worker");
  } catch {
    return false;
  }
}
