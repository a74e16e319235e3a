// The strongSwan agent: loads the rendered swanctl.conf into charon with pre-shared keys fetched at start
// (written 0600 into the run directory, never logged, never in the bundle), and keeps proxy-fleet's
// iptables chains applied: atomically with iptables-restore, re-applied when DNS answers change, so
// hostname rules follow DNS without restarting IPsec. noIpsec services only do the iptables part.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ServiceModelOf } from "../../functions/fleet/load.ts";
import type { StrongswanConnectionConfig } from "../../functions/fleet/schema.ts";
import { contextWith, type ResolvedTargets } from "../../functions/render/context.ts";
import { HOOKS, renderIptables } from "../../functions/render/iptables.ts";
import { SECRETS_DIR, espProposals, ikeProposals, renderSwanctl, renderSwanctlSecrets } from "../../functions/render/strongswan.ts";
import { describeMissing, missingAlgorithms, parseListAlgs } from "./algorithms.ts";
import { verifyBundle, type BundleSource } from "./bundle.ts";
import { checkIptables, loadSwanctl } from "./checks.ts";
import { TunnelTracker, parseListSas, tunnelStates, type MetricValues } from "./metrics.ts";
import { run } from "./process.ts";
import type { ApplyResult } from "./agent.ts";

type Strongswan = ServiceModelOf<"strongswan">;
export type SecretReference = StrongswanConnectionConfig["psk"];

/** Fetches a pre-shared key from where the config says it lives. */
export interface SecretsResolver {
  resolve(reference: SecretReference): Promise<Uint8Array>;
}

export interface StrongswanAgentOptions {
  readonly bundleDir: string;
  readonly runDir: string;
  readonly secrets: SecretsResolver;
  /** charon's vici socket, and the environment swanctl needs to find its strongswan.conf. */
  readonly viciUri?: string;
  readonly swanctlEnv?: NodeJS.ProcessEnv;
  /** Run iptables and swanctl in this network namespace (tests, local mode). */
  readonly netns?: string;
  readonly pinnedHash?: string;
  readonly targets?: ResolvedTargets;
}

export class StrongswanAgent {
  readonly model: Strongswan;
  readonly hash: string;
  private rules = "";
  private readonly options: StrongswanAgentOptions;
  private lastApply: ApplyResult = { applied: true, reason: "started" };
  private readonly tunnels = new TunnelTracker();

  private constructor(model: Strongswan, hash: string, options: StrongswanAgentOptions) {
    this.model = model;
    this.hash = hash;
    this.options = options;
  }

  static async start(source: BundleSource, options: StrongswanAgentOptions): Promise<StrongswanAgent> {
    const bundle = await source.fetch();
    const model = verifyBundle(bundle, options.pinnedHash);
    if (model.kind !== "strongswan") throw new Error(`${model.name} is a ${model.kind} service, not strongswan`);
    const agent = new StrongswanAgent(model, bundle.hash, options);
    await mkdir(options.bundleDir, { recursive: true });
    await mkdir(join(options.runDir, SECRETS_DIR), { recursive: true });
    if (!model.noIpsec) await agent.loadIpsec();
    const applied = await agent.applyTargets(options.targets ?? {});
    if (!applied.applied) throw new Error(`iptables refused the rules of ${model.name}: ${applied.reason}`);
    await agent.installHooks();
    return agent;
  }

  /** Re-renders the iptables rules for new DNS answers and applies them atomically, if they changed. */
  async applyTargets(targets: ResolvedTargets): Promise<ApplyResult> {
    const rules = renderIptables(this.model, contextWith({ bundleDir: this.options.bundleDir, runDir: this.options.runDir, targets }));
    if (rules === this.rules) return this.record({ applied: false, reason: "unchanged" });
    const check = await checkIptables(rules, this.options.netns);
    if (!check.ok) return this.record({ applied: false, reason: `candidate refused by iptables-restore, the running rules stay:\n${check.output}` });
    const applied = await run("iptables-restore", ["--noflush"], { input: rules, ...this.netns() });
    if (applied.code !== 0) return this.record({ applied: false, reason: applied.stderr.trim() });
    await writeFile(join(this.options.bundleDir, "iptables.rules"), rules);
    this.rules = rules;
    return this.record({ applied: true, reason: "iptables-restore" });
  }

  /**
   * Each connection's tunnel metrics since the previous sample (TunnelUp, bytes, rekeys), from charon's
   * `swanctl --list-sas --raw`; empty for a noIpsec service. A failed query throws: no sample beats a wrong one.
   */
  async sampleTunnels(): Promise<Map<string, MetricValues>> {
    const { viciUri, swanctlEnv } = this.options;
    if (this.model.noIpsec || !viciUri) return new Map();
    const listed = await run("swanctl", ["--list-sas", "--raw", "--uri", viciUri], { ...this.netns(), timeoutMs: 5_000, ...(swanctlEnv ? { env: swanctlEnv } : {}) });
    if (listed.code !== 0) throw new Error(`swanctl --list-sas failed (exit ${listed.code}): ${listed.stderr.trim()}`);
    return this.tunnels.next(tunnelStates(parseListSas(listed.stdout), this.model.connections.map((c) => c.name)));
  }

  health(): { ok: boolean; service: string; hash: string; lastApply: ApplyResult } {
    return { ok: this.rules !== "", service: this.model.name, hash: this.hash, lastApply: this.lastApply };
  }

  private record(result: ApplyResult): ApplyResult {
    this.lastApply = result;
    return result;
  }

  private netns() {
    return this.options.netns ? { netns: this.options.netns } : {};
  }

  private async loadIpsec(): Promise<void> {
    const { bundleDir, runDir, secrets, viciUri } = this.options;
    if (!viciUri) throw new Error("an IPsec service needs charon's vici socket");
    await this.checkAlgorithms(viciUri);
    const files = renderSwanctl(this.model, contextWith({ bundleDir, runDir }));
    await writeFile(join(bundleDir, "swanctl.conf"), files["swanctl.conf"]!);
    const keys: Record<string, Uint8Array> = {};
    for (const connection of this.model.connections) keys[connection.name] = await secrets.resolve(connection.psk);
    const secretsFile = join(runDir, SECRETS_DIR, "psk.conf");
    await writeFile(secretsFile, renderSwanctlSecrets(this.model, keys), { mode: 0o600 });
    await chmod(secretsFile, 0o600);
    const loaded = await loadSwanctl(join(bundleDir, "swanctl.conf"), viciUri, this.options.netns, this.options.swanctlEnv);
    if (!loaded.ok) throw new Error(`charon refused the connections of ${this.model.name}:\n${loaded.output}`);
  }

  /**
   * Refuses, before anything is loaded, proposals that use an algorithm the running charon has no plugin
   * for: charon would load them and fail only when the peer negotiates.
   */
  private async checkAlgorithms(viciUri: string): Promise<void> {
    const listed = await run("swanctl", ["--list-algs", "--uri", viciUri], { ...this.netns(), ...(this.options.swanctlEnv ? { env: this.options.swanctlEnv } : {}) });
    if (listed.code !== 0) throw new Error(`swanctl --list-algs failed (exit ${listed.code}): ${listed.stderr.trim()}`);
    const missing = missingAlgorithms(this.model.connections.flatMap((c) => [
      { usedIn: c.name, context: "ike" as const, proposals: ikeProposals(c.ike) },
      { usedIn: c.name, context: "esp" as const, proposals: espProposals(c.esp) },
    ]), parseListAlgs(listed.stdout));
    if (missing.length > 0) {
      throw new Error(`charon has no plugin for these algorithms of ${this.model.name}; nothing was loaded:\n${describeMissing(missing)}`);
    }
  }

  /** Jumps from the built-in chains into ours, each installed once. */
  private async installHooks(): Promise<void> {
    for (const hook of HOOKS) {
      const present = await run("iptables", ["-t", hook.table, "-C", hook.chain, "-j", hook.target], this.netns());
      if (present.code === 0) continue;
      const inserted = await run("iptables", ["-t", hook.table, "-I", hook.chain, "1", "-j", hook.target], this.netns());
      if (inserted.code !== 0) throw new Error(`could not hook ${hook.target} into ${hook.table}/${hook.chain}: ${inserted.stderr}`);
    }
  }
}
