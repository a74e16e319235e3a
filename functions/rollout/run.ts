// One run of the config rollout loop. Level-triggered: whatever commit an event names, the loop
// reconciles to the tracked branch's current head, so late, duplicate or out-of-order events can never
// roll back to an older commit, and a head already processed changes nothing.
import { formatIssue, type ConfigIssue } from "../fleet/issues.ts";
import { loadFleet } from "../fleet/load.ts";
import { recordingTree } from "../fleet/tree.ts";
import { renderFleet, type Bundle } from "../render/bundle.ts";
import { mapLimit } from "../plan/concurrency.ts";
import { boundedComment, clip, fitEventDetail, ITEM_LIMIT, lineCount } from "./limits.ts";
import { planRollout, relevantPaths, type ServiceAction } from "./plan.ts";
import type { PinnedService } from "../dns/ports.ts";
import type { AcceptedStore, BundleStore, Deployer, EcsTarget, Publisher, Repository, RolloutState, RolloutStateStore } from "./ports.ts";
import { commentSafely, early, runningConfig, settleAll, stateKey } from "./shared-steps.ts";

export { commentSafely, runningConfig, stateKey };

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
/**
 * Services rolled out side by side. ECS throttles its API per account and Region (token buckets per action,
 * https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html); the SDK's adaptive retries
 * absorb a burst this small.
 */
export const DEPLOY_CONCURRENCY = 5;
/** Located comments posted at once (CodeCommit throttles per account too; the summary always goes first). */
const COMMENT_CONCURRENCY = 4;

export async function reconcileRollout(ports: RolloutPorts, options: { dryRun?: boolean } = {}): Promise<RolloutOutcome> {
  const repo = ports.repository;
  // The head and the state are independent reads (the state's key does not depend on the head): side by side.
  const [head, { value: state, version }] = await Promise.all([repo.branchHead(ports.branch), ports.state.load(stateKey(ports))]);
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
  // The parent only addresses the comments: read while the config loads.
  const parentOf = early(repo.parentOf(head));
  const loaded = await loadFleet(tree);
  const parent = await parentOf();
  const commentFailures: string[] = [];
  if (!loaded.ok) {
    if (!options.dryRun) {
      // Comments are best effort (a refused comment is reported, never fatal); the event and the saved
      // state are what must happen, so a retry after a failure here redoes everything idempotently.
      await settleAll([
        commentRejection(repo, parent, head, loaded.errors, tree.readFiles(), commentFailures),
        ports.events.publish("Config Rejected", fitEventDetail({
          repository: repo.name, branch: ports.branch, commit: head, errors: loaded.errors.map(formatIssue),
        }, "errors")),
      ]);
    }
    await save({ ...state, lastProcessedCommit: head });
    return { kind: "rejected", commit: head, errors: loaded.errors, commentFailures };
  }

  const { bundles } = renderFleet(loaded.model);
  const actions = planRollout(bundles, state, ports.targets);
  if (options.dryRun) return { kind: "accepted", commit: head, actions, deployments: [], commentFailures };

  // The pins of skipped services are read while the changed services roll out.
  const pinnedRead = early(pinsForSkipped(actions, state, ports.accepted));
  const deployments = await deployAll(ports, actions, new Map(bundles.map((b) => [b.service, b] as const)), head);
  const pinned = await pinnedRead();
  const files = tree.readFiles();
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
  // The comment and the event report the same saved outcome and do not depend on each other.
  await settleAll([
    commentSafely(repo, commentFailures, parent, head, acceptedComment(head, actions, deployments)),
    ports.events.publish("Config Accepted", fitEventDetail({
      repository: repo.name, branch: ports.branch, commit: head,
      deployments: deployments.map(({ service, hash, taskDefinition, deploymentId }) => ({ service, hash, taskDefinition, deploymentId })),
    }, "deployments")),
  ]);
  return { kind: "accepted", commit: head, actions, deployments, commentFailures };
}

/**
 * Every changed service rolled out, DEPLOY_CONCURRENCY at a time (each service has its own ECS service and
 * task family: nothing is shared between them). A service that fails does not stop the others; after all
 * have been tried the run fails, saving nothing, so the next run (a retry) reconciles again.
 */
async function deployAll(ports: RolloutPorts, actions: readonly ServiceAction[], byService: ReadonlyMap<string, Bundle>, head: string): Promise<Deployment[]> {
  const changed = actions.filter((a): a is Extract<ServiceAction, { action: "deploy" }> => a.action === "deploy");
  const results = await mapLimit(changed, DEPLOY_CONCURRENCY, (action) =>
    deploy(ports, byService.get(action.service)!, action.target, head).then(
      (deployment) => ({ deployment }),
      (error: unknown) => ({ service: action.service, error }),
    ));
  const failures = results.filter((r): r is { service: string; error: unknown } => "error" in r);
  if (failures.length === 1) throw failures[0]!.error;
  if (failures.length > 1) {
    const described = failures.map((f) => `${f.service}: ${(f.error as Error).message ?? String(f.error)}`).join("; ");
    throw new AggregateError(failures.map((f) => f.error), `${failures.length} services were not rolled out: ${described}`);
  }
  return results.map((r) => (r as { deployment: Deployment }).deployment);
}

/**
 * A service whose new bundle is a version pinned as failed is not rolled out: it keeps running what it
 * runs, and the snapshot says so, so the DNS loop follows that config's names and not the new commit's.
 */
async function pinsForSkipped(
  actions: readonly ServiceAction[], state: RolloutState, accepted: AcceptedStore | undefined,
): Promise<Record<string, PinnedService | null>> {
  // One read per commit, all at once: services skipped together usually run the same older commit.
  const reads = new Map<string | undefined, Promise<PinnedService | null>>();
  const skipped = actions.filter((a) => a.action === "skip-failed").map((a) => {
    const commit = state.services[a.service]?.commit;
    if (!reads.has(commit)) reads.set(commit, runningConfig(accepted, commit));
    return [a.service, reads.get(commit)!] as const;
  });
  return Object.fromEntries(await Promise.all(skipped.map(async ([service, pin]) => [service, await pin] as const)));
}

async function deploy(ports: RolloutPorts, bundle: Bundle, target: EcsTarget, commit: string): Promise<Deployment> {
  // In this order: a revision only ever pins a bundle already in the bucket.
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
  await mapLimit(locatable.slice(0, MAX_LOCATED_COMMENTS), COMMENT_CONCURRENCY, (e) =>
    commentSafely(repo, failures, parent, head, clip(`proxy-fleet: **${e.rule}**: ${e.message}`, ITEM_LIMIT), { filePath: e.file, filePosition: e.line }));
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
