// One run of the config rollout loop. Level-triggered: whatever commit an event names, the loop
// reconciles to the tracked branch's current head, so late, duplicate or out-of-order events can never
// roll back to an older commit, and a head already processed changes nothing.
import { formatIssue, type ConfigIssue } from "../fleet/issues.ts";
import { loadFleet } from "../fleet/load.ts";
import { recordingTree } from "../fleet/tree.ts";
import { renderFleet, type Bundle } from "../render/bundle.ts";
import { planRollout, relevantPaths, type ServiceAction } from "./plan.ts";
import type { BundleStore, Deployer, EcsTarget, Publisher, Repository, RolloutState, RolloutStateStore } from "./ports.ts";

export interface RolloutPorts {
  readonly repository: Repository;
  readonly branch: string;
  readonly bundles: BundleStore;
  readonly deployer: Deployer;
  readonly state: RolloutStateStore;
  readonly events: Publisher;
  readonly targets: Readonly<Record<string, EcsTarget>>;
}

export interface Deployment {
  readonly service: string;
  readonly hash: string;
  readonly bundleKey: string;
  readonly taskDefinition: string;
  readonly deploymentId: string;
}

export type RolloutOutcome =
  | { readonly kind: "up-to-date"; readonly commit: string }
  | { readonly kind: "irrelevant"; readonly commit: string; readonly changed: readonly string[] }
  | { readonly kind: "rejected"; readonly commit: string; readonly errors: readonly ConfigIssue[] }
  | { readonly kind: "accepted"; readonly commit: string; readonly actions: readonly ServiceAction[]; readonly deployments: readonly Deployment[] };

/** Located comments per rejected commit, beyond the summary; the summary always lists every error. */
const MAX_LOCATED_COMMENTS = 20;

export const stateKey = (ports: Pick<RolloutPorts, "repository" | "branch">) => `${ports.repository.name}#${ports.branch}`;

export async function reconcileRollout(ports: RolloutPorts, options: { dryRun?: boolean } = {}): Promise<RolloutOutcome> {
  const repo = ports.repository;
  const head = await repo.branchHead(ports.branch);
  const { value: state, version } = await ports.state.load(stateKey(ports));
  if (state.lastProcessedCommit === head) return { kind: "up-to-date", commit: head };

  const save = async (next: RolloutState) => {
    if (options.dryRun) return;
    if (!(await ports.state.save(stateKey(ports), next, version))) {
      throw new Error(`rollout state for ${stateKey(ports)} changed during this run; the next run reconciles again`);
    }
  };

  if (state.lastAcceptedCommit && state.acceptedFiles) {
    const changed = await repo.changedPaths(state.lastAcceptedCommit, head);
    const relevant = relevantPaths(Object.fromEntries(state.acceptedFiles.map((f) => [f, ""])));
    if (!changed.some((path) => relevant.has(path))) {
      await save({ ...state, lastProcessedCommit: head });
      return { kind: "irrelevant", commit: head, changed };
    }
  }

  const tree = recordingTree(repo.treeAt(head));
  const loaded = await loadFleet(tree);
  const parent = await repo.parentOf(head);
  if (!loaded.ok) {
    if (!options.dryRun) {
      await commentRejection(repo, parent, head, loaded.errors);
      await ports.events.publish("Config Rejected", {
        repository: repo.name, branch: ports.branch, commit: head, errors: loaded.errors.map(formatIssue),
      });
    }
    await save({ ...state, lastProcessedCommit: head });
    return { kind: "rejected", commit: head, errors: loaded.errors };
  }

  const { bundles } = renderFleet(loaded.model);
  const actions = planRollout(bundles, state, ports.targets);
  if (options.dryRun) return { kind: "accepted", commit: head, actions, deployments: [] };

  const deployments: Deployment[] = [];
  const byService = new Map(bundles.map((b) => [b.service, b] as const));
  for (const action of actions) {
    if (action.action !== "deploy") continue;
    deployments.push(await deploy(ports, byService.get(action.service)!, action.target, head));
  }
  const files = tree.readFiles();
  await ports.bundles.putAccepted({ commit: head, files });

  const services = { ...state.services };
  for (const d of deployments) {
    const before = state.services[d.service];
    const previous = before ? { hash: before.hash, commit: before.commit, taskDefinition: before.taskDefinition, deploymentId: before.deploymentId } : undefined;
    services[d.service] = { hash: d.hash, commit: head, taskDefinition: d.taskDefinition, deploymentId: d.deploymentId, ...(previous ? { previous } : {}) };
  }
  await save({
    ...state,
    lastProcessedCommit: head,
    lastAcceptedCommit: head,
    acceptedFiles: Object.keys(files).sort(),
    services,
  });
  await repo.comment(parent, head, acceptedComment(head, actions, deployments));
  await ports.events.publish("Config Accepted", {
    repository: repo.name, branch: ports.branch, commit: head,
    deployments: deployments.map(({ service, hash, taskDefinition, deploymentId }) => ({ service, hash, taskDefinition, deploymentId })),
  });
  return { kind: "accepted", commit: head, actions, deployments };
}

async function deploy(ports: RolloutPorts, bundle: Bundle, target: EcsTarget, commit: string): Promise<Deployment> {
  const bundleKey = await ports.bundles.putBundle(bundle);
  const taskDefinition = await ports.deployer.registerRevision(target, { key: bundleKey, hash: bundle.hash, commit });
  const deploymentId = await ports.deployer.updateService(target, taskDefinition);
  return { service: bundle.service, hash: bundle.hash, bundleKey, taskDefinition, deploymentId };
}

async function commentRejection(repo: Repository, parent: string | undefined, head: string, errors: readonly ConfigIssue[]) {
  const summary = [
    `**proxy-fleet rejected ${head.slice(0, 12)}**: nothing was rolled out; the running config stays as it was.`,
    "",
    ...errors.map((e) => `- \`${e.file}:${e.line}:${e.column}\` **${e.rule}**: ${e.message}`),
  ].join("\n");
  await repo.comment(parent, head, summary);
  for (const e of errors.slice(0, MAX_LOCATED_COMMENTS)) {
    await repo.comment(parent, head, `proxy-fleet: **${e.rule}**: ${e.message}`, { filePath: e.file, filePosition: e.line });
  }
}

function acceptedComment(head: string, actions: readonly ServiceAction[], deployments: readonly Deployment[]): string {
  const deployed = new Map(deployments.map((d) => [d.service, d] as const));
  const describe = (a: ServiceAction) => {
    switch (a.action) {
      case "deploy": {
        const d = deployed.get(a.service)!;
        return `rolling out ${a.hash.slice(0, 19)} as ${d.taskDefinition.split("/").pop()} (deployment ${d.deploymentId})`;
      }
      case "unchanged": return "unchanged";
      case "skip-failed": return `not rolled out: ${a.hash.slice(0, 19)} failed before and is not retried automatically`;
      case "not-deployed": return "no ECS service in this stage";
    }
  };
  return [`**proxy-fleet accepted ${head.slice(0, 12)}**`, "", ...actions.map((a) => `- ${a.service}: ${describe(a)}`)].join("\n");
}
