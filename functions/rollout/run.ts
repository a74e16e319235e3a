// One run of the config rollout loop. Level-triggered: whatever commit an event names, the loop
// reconciles to the tracked branch's current head, so late, duplicate or out-of-order events can never
// roll back to an older commit, and a head already processed changes nothing.
import { formatIssue, type ConfigIssue } from "../fleet/issues.ts";
import { loadFleet } from "../fleet/load.ts";
import { recordingTree } from "../fleet/tree.ts";
import { renderFleet, type Bundle } from "../render/bundle.ts";
import { boundedComment, clip, fitEventDetail, ITEM_LIMIT, lineCount } from "./limits.ts";
import { planRollout, relevantPaths, type ServiceAction } from "./plan.ts";
import type { AcceptedSnapshot, PinnedService } from "../dns/ports.ts";
import type {
  AcceptedStore, BundleStore, CommentLocation, Deployer, EcsTarget, Publisher, Repository, RolloutState, RolloutStateStore,
} from "./ports.ts";

export interface RolloutPorts {
  readonly repository: Repository;
  readonly branch: string;
  readonly bundles: BundleStore;
  readonly deployer: Deployer;
  readonly state: RolloutStateStore;
  readonly events: Publisher;
  readonly targets: Readonly<Record<string, EcsTarget>>;
  /** The accepted snapshots' history: where a service that keeps running an older config finds it. */
  readonly accepted?: AcceptedStore;
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
  | { readonly kind: "rejected"; readonly commit: string; readonly errors: readonly ConfigIssue[]; readonly commentFailures: readonly string[] }
  | {
    readonly kind: "accepted"; readonly commit: string; readonly actions: readonly ServiceAction[]; readonly deployments: readonly Deployment[];
    readonly commentFailures: readonly string[];
  };

/** Located comments per rejected commit, beyond the summary; the summary lists every error that fits. */
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
  const commentFailures: string[] = [];
  if (!loaded.ok) {
    if (!options.dryRun) {
      // Comments are best effort (a refused comment is reported, never fatal); the event and the saved
      // state are what must happen, so a retry after a failure here redoes everything idempotently.
      await commentRejection(repo, parent, head, loaded.errors, tree.readFiles(), commentFailures);
      await ports.events.publish("Config Rejected", fitEventDetail({
        repository: repo.name, branch: ports.branch, commit: head, errors: loaded.errors.map(formatIssue),
      }, "errors"));
    }
    await save({ ...state, lastProcessedCommit: head });
    return { kind: "rejected", commit: head, errors: loaded.errors, commentFailures };
  }

  const { bundles } = renderFleet(loaded.model);
  const actions = planRollout(bundles, state, ports.targets);
  if (options.dryRun) return { kind: "accepted", commit: head, actions, deployments: [], commentFailures };

  const deployments: Deployment[] = [];
  const byService = new Map(bundles.map((b) => [b.service, b] as const));
  for (const action of actions) {
    if (action.action !== "deploy") continue;
    deployments.push(await deploy(ports, byService.get(action.service)!, action.target, head));
  }
  const files = tree.readFiles();
  const pinned = await pinsForSkipped(actions, state, ports.accepted);
  await ports.bundles.putAccepted({ commit: head, files, ...(Object.keys(pinned).length > 0 ? { pinned } : {}) });

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
  await commentSafely(repo, commentFailures, parent, head, acceptedComment(head, actions, deployments));
  await ports.events.publish("Config Accepted", fitEventDetail({
    repository: repo.name, branch: ports.branch, commit: head,
    deployments: deployments.map(({ service, hash, taskDefinition, deploymentId }) => ({ service, hash, taskDefinition, deploymentId })),
  }, "deployments"));
  return { kind: "accepted", commit: head, actions, deployments, commentFailures };
}

/**
 * Posts a comment; a refusal (size, path, permissions, throttling beyond the SDK's retries) is recorded in
 * `failures` for the log and the metrics, and never fails the run: the comment only reports, the state
 * and the event are what count.
 */
export async function commentSafely(
  repo: Repository, failures: string[], before: string | undefined, after: string, content: string, location?: CommentLocation,
): Promise<void> {
  try {
    await repo.comment(before, after, content, location);
  } catch (error) {
    const name = (error as { name?: string }).name ?? "Error";
    const where = location ? ` on ${location.filePath}:${location.filePosition}` : "";
    failures.push(`${name}${where}: ${clip((error as Error).message ?? String(error), ITEM_LIMIT)}`);
  }
}

/**
 * A service whose new bundle is a version pinned as failed is not rolled out: it keeps running what it
 * runs, and the snapshot says so, so the DNS loop follows that config's names and not the new commit's.
 */
async function pinsForSkipped(
  actions: readonly ServiceAction[], state: RolloutState, accepted: AcceptedStore | undefined,
): Promise<Record<string, PinnedService | null>> {
  const pinned: Record<string, PinnedService | null> = {};
  for (const action of actions) {
    if (action.action !== "skip-failed") continue;
    pinned[action.service] = await runningConfig(accepted, state.services[action.service]?.commit);
  }
  return pinned;
}

/** The accepted config at a commit, as a pin; null when it is not known. */
export async function runningConfig(accepted: AcceptedStore | undefined, commit: string | undefined): Promise<PinnedService | null> {
  if (!accepted || !commit) return null;
  const snapshot: AcceptedSnapshot | undefined = await accepted.atCommit(commit);
  return snapshot ? { commit, files: snapshot.files } : null;
}

async function deploy(ports: RolloutPorts, bundle: Bundle, target: EcsTarget, commit: string): Promise<Deployment> {
  const bundleKey = await ports.bundles.putBundle(bundle);
  const taskDefinition = await ports.deployer.registerRevision(target, { key: bundleKey, hash: bundle.hash, commit });
  const deploymentId = await ports.deployer.updateService(target, taskDefinition);
  return { service: bundle.service, hash: bundle.hash, bundleKey, taskDefinition, deploymentId };
}

/**
 * One summary comment with every error that fits CodeCommit's limit ("…and N more" after that), plus a
 * located comment per error (up to MAX_LOCATED_COMMENTS) whose file is in the commit and whose line is in
 * the file; any other error (a deleted fleet.yaml, a missing allowlist) is in the summary only.
 */
async function commentRejection(
  repo: Repository, parent: string | undefined, head: string, errors: readonly ConfigIssue[],
  filesInCommit: Readonly<Record<string, string>>, failures: string[],
) {
  const summary = boundedComment({
    head: [`**proxy-fleet rejected ${head.slice(0, 12)}**: nothing was rolled out; the running config stays as it was.`, ""],
    items: errors.map((e) => `- \`${e.file}:${e.line}:${e.column}\` **${e.rule}**: ${e.message}`),
    whereTheRestIs: "the full list is in the Config Rejected event and the rollout log.",
  });
  await commentSafely(repo, failures, parent, head, summary);
  const locatable = errors.filter((e) => {
    const content = filesInCommit[e.file];
    return content !== undefined && e.line >= 1 && e.line <= lineCount(content);
  });
  for (const e of locatable.slice(0, MAX_LOCATED_COMMENTS)) {
    await commentSafely(repo, failures, parent, head, clip(`proxy-fleet: **${e.rule}**: ${e.message}`, ITEM_LIMIT), { filePath: e.file, filePosition: e.line });
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
  return boundedComment({
    head: [`**proxy-fleet accepted ${head.slice(0, 12)}**`, ""],
    items: actions.map((a) => `- ${a.service}: ${describe(a)}`),
    whereTheRestIs: "every service is in the rollout log, every deployment in the Config Accepted event.",
  });
}
