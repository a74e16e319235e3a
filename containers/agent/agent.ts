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
import { mkdir, rename, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { ServiceModel } from "../../functions/fleet/load.ts";
import { renderFiles } from "../../functions/render/bundle.ts";
import { contextWith, type RenderContext, type ResolvedTargets } from "../../functions/render/context.ts";
import { verifyBundle, type BundleSource } from "./bundle.ts";
import { checkHaproxy, checkNginx, checkSquid, type CheckResult } from "./checks.ts";
import { startHaproxy, startNginx, startSquid } from "./daemons.ts";
import { run, waitFor, type Daemon } from "./process.ts";

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
  private readonly options: AgentOptions;
  private lastApply: ApplyResult = { applied: true, reason: "started" };

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
    if (model.kind === "strongswan") throw new Error("strongSwan services run with the strongSwan agent");
    const agent = new Agent(model, bundle.hash, options);
    await mkdir(options.bundleDir, { recursive: true });
    await mkdir(options.runDir, { recursive: true });
    const files = agent.render(agent.targets);
    await agent.writeAll(files);
    const check = await agent.check(join(options.bundleDir, agent.mainFile()));
    if (!check.ok) throw new Error(`${model.kind} refused the configuration of ${model.name}:\n${check.output}`);
    agent.files = files;
    await agent.launch();
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

  health(): { ok: boolean; service: string; hash: string; lastApply: ApplyResult } {
    const alive = this.daemon !== undefined && this.daemon.process.exitCode === null && this.daemon.process.signalCode === null;
    return { ok: alive, service: this.model.name, hash: this.hash, lastApply: this.lastApply };
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
  }

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
      case "haproxy": return checkHaproxy(file);
      case "nginx": return checkNginx(file, this.options.runDir);
      default: return checkSquid(file);
    }
  }

  private async launch(): Promise<void> {
    const file = join(this.options.bundleDir, this.mainFile());
    if (this.model.kind === "haproxy") {
      const haproxy = startHaproxy(file, this.options.runDir);
      this.masterSocket = haproxy.masterSocket;
      this.daemon = haproxy;
      await waitFor("the HAProxy master socket", () => masterAnswers(haproxy.masterSocket), 10_000);
    } else if (this.model.kind === "nginx") {
      this.daemon = startNginx(file, this.options.runDir);
    } else {
      this.daemon = startSquid(file);
    }
  }

  private async reload(): Promise<void> {
    if (this.model.kind === "haproxy") {
      await masterCommand(this.masterSocket!, "reload");
      return;
    }
    const r = await run("nginx", ["-p", this.options.runDir, "-c", join(this.options.bundleDir, this.mainFile()), "-s", "reload"]);
    if (r.code !== 0) throw new Error(`nginx -s reload failed: ${r.stderr}`);
  }
}

/** Sends one command to the HAProxy master CLI and returns its answer. */
export function masterCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = connect(socket, () => client.end(`${command}\n`));
    let answer = "";
    client.on("data", (chunk: Buffer) => (answer += chunk.toString()));
    client.on("close", () => resolve(answer));
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
