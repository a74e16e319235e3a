// Synthesizes SST stacks as `sst deploy` would (deploy mode, no AWS), with cdk-nag's AwsSolutions pack.
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { Aspects, Stage, Tags, type Stack } from "aws-cdk-lib";
import * as cxapi from "aws-cdk-lib/cx-api";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { App, getStack, type StackContext } from "sst/constructs";
import { initProject } from "sst/project.js";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import { Operations } from "../../stacks/Operations.ts";
import { ProxyServices } from "../../stacks/ProxyServices.ts";
import { PullRequests } from "../../stacks/PullRequests.ts";
import { Reconcilers } from "../../stacks/Reconcilers.ts";
import { StrongswanSites } from "../../stacks/StrongswanSites.ts";
import { STAGE_TAG } from "../../stacks/settings.ts";

type StackFunction = (ctx: StackContext) => unknown;

export interface SynthOptions {
  readonly stage?: string;
  /** The config repository the stacks deploy from (PROXY_FLEET_CONFIG_DIR); default examples/. */
  readonly configDir?: string;
}

/** Every stack of the app in deploy order, as sst.config.ts adds them. */
export const ALL_STACKS: StackFunction[] = [ConfigStore, Network, ProxyServices, StrongswanSites, Reconcilers, PullRequests, Operations];

async function build(stacks: StackFunction[], options: SynthOptions) {
  const stage = options.stage ?? "test";
  const previous = process.env.PROXY_FLEET_CONFIG_DIR;
  if (options.configDir) process.env.PROXY_FLEET_CONFIG_DIR = options.configDir;
  try {
    await initProject({ stage });
    const app = new App({ mode: "deploy", stage, name: "proxy-fleet", region: "us-east-1" });
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
    Tags.of(app).add(STAGE_TAG, stage); // as sst.config.ts does
    for (const fn of stacks) await app.stack(fn as never);
    return stacks.map((fn) => getStack(fn as never) as Stack);
  } finally {
    if (previous === undefined) delete process.env.PROXY_FLEET_CONFIG_DIR;
    else process.env.PROXY_FLEET_CONFIG_DIR = previous;
  }
}

/** Adds the stacks in order (awaiting async ones) and returns the last one's template and nag findings. */
export async function synth(stacks: StackFunction[], options: SynthOptions = {}) {
  const stack = (await build(stacks, options)).at(-1)!;
  const template = Template.fromStack(stack);
  /** Every AwsSolutions error or warning not waived with a reason, as "path: rule…". */
  const nagFindings = () =>
    [
      ...Annotations.fromStack(stack).findError("*", Match.stringLikeRegexp("AwsSolutions-.*")),
      ...Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("AwsSolutions-.*")),
    ].map((e) => `${e.id}: ${String(e.entry.data).slice(0, 160)}`);
  return { template, nagFindings };
}

export interface SynthesizedStack {
  readonly name: string;
  readonly template: { Resources: Record<string, CfnResource>; Parameters?: Record<string, { Default?: string }> };
  /** The Docker image assets the stack builds, as the asset manifest records them. */
  readonly images: { readonly file?: string; readonly target?: string; readonly platform?: string }[];
}

/** The whole app at one stage: every stack's name, template (as JSON) and image assets. */
export async function synthApp(options: SynthOptions = {}): Promise<SynthesizedStack[]> {
  const stacks = await build(ALL_STACKS, options);
  const assembly = Stage.of(stacks[0]!)!.synth();
  return stacks.map((stack) => {
    const manifests = assembly.getStackArtifact(stack.artifactId).dependencies.filter((d): d is cxapi.AssetManifestArtifact => d instanceof cxapi.AssetManifestArtifact);
    const images = manifests.flatMap((m) => Object.values((JSON.parse(readFileSync(m.file, "utf8")) as { dockerImages?: Record<string, { source: { dockerFile?: string; dockerBuildTarget?: string; platform?: string } }> }).dockerImages ?? {}))
      .map(({ source }) => ({ file: source.dockerFile, target: source.dockerBuildTarget, platform: source.platform }));
    return { name: stack.stackName, template: Template.fromStack(stack).toJSON() as SynthesizedStack["template"], images };
  });
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
}

/**
 * A large config repository: one HAProxy service with `haproxyListeners` listeners, `nginx` NGINX and `squid` Squid
 * services, and `sites` strongSwan sites. Written to a fresh temporary folder; returns its path.
 */
export function largeConfig({ haproxyListeners = 50, nginx = 3, squid = 2, sites = 4 } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "proxy-fleet-large-"));
  mkdirSync(join(dir, "allowlists"));
  writeFileSync(join(dir, "allowlists", "egress.txt"), "api.github.com\n.amazonaws.com\n");
  const lines = ["version: 1", "services:", "  router:", "    kind: haproxy", "    listeners:"];
  for (let i = 0; i < haproxyListeners; i++) {
    lines.push(`      - name: l${i}`, `        port: ${10000 + i}`, "        backends:", `          - { host: backend${i}.corp.example.com, port: ${20000 + i} }`);
  }
  for (let n = 0; n < nginx; n++) {
    lines.push(`  ingress-${n}:`, "    kind: nginx", "    resolver: { addresses: [169.254.169.253], valid: 30s }", "    tls:",
      "      - port: 443", "        routes:", `          - match: api${n}.example.com`, `            upstream: { host: api${n}.lattice.example.com, port: 443 }`);
  }
  for (let n = 0; n < squid; n++) {
    lines.push(`  egress-${n}:`, "    kind: squid", `    port: ${3128 + n}`, "    allowlist: allowlists/egress.txt", "    allowedSources: [10.0.0.0/8]");
  }
  for (let n = 0; n < sites; n++) {
    lines.push(`  site-${n}:`, "    kind: strongswan", "    connections:", `      - name: dc${n}`, "        ikeVersion: 2",
      `        psk: { ssmParameter: "/proxy-fleet/{stage}/site-${n}/dc${n}" }`, "        local: { subnets: [10.20.0.0/16] }",
      // The first site names a primary and a secondary peer.
      `        remote: { ${n === 0 ? "addresses: [198.51.100.10, 198.51.100.110], id: dc0.example.com" : `address: 198.51.100.${10 + n}`}, subnets: [192.168.${n}.0/24] }`,
      "    rules:", `      - name: to-dc${n}`, "        from: [10.20.0.0/16]", `        to: [192.168.${n}.0/24]`, "        protocols: [tcp]", "        ports: [443]");
  }
  writeFileSync(join(dir, "fleet.yaml"), `${lines.join("\n")}\n`);
  return dir;
}
