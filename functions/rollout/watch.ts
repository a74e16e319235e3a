// Rollout watch: ECS tells how a deployment ended. A failed one (the circuit breaker rolled it back) pins
// its bundle version as failed, so the rollout loop never retries it by itself; the next commit with a
// different bundle proceeds normally. A completed one is reported on its commit.
import { clip, ITEM_LIMIT, rememberFailure } from "./limits.ts";
import { isDeepStrictEqual } from "node:util";
import type { AcceptedStore, Publisher, Repository, RolloutStateStore } from "./ports.ts";
import { commentSafely, runningConfig, stateKey } from "./shared-steps.ts";

export interface WatchPorts {
  readonly repository: Repository;
  readonly branch: string;
  readonly state: RolloutStateStore;
  readonly events: Publisher;
  /** The accepted snapshot, re-pointed at what actually runs after a failed deployment. */
  readonly accepted?: AcceptedStore;
}

export interface DeploymentEvent {
  readonly eventName: string;
  readonly deploymentId: string;
  readonly reason?: string;
}

export type WatchOutcome =
  | { readonly kind: "unknown-deployment"; readonly deploymentId: string }
  | { readonly kind: "ignored"; readonly eventName: string }
  | { readonly kind: "failed"; readonly service: string; readonly hash: string; readonly commit: string; readonly commentFailures?: readonly string[] }
  | { readonly kind: "completed"; readonly service: string; readonly hash: string; readonly commit: string; readonly commentFailures?: readonly string[] };

const MAX_CONFLICT_RETRIES = 5;

export async function watchDeployment(event: DeploymentEvent, ports: WatchPorts): Promise<WatchOutcome> {
  if (event.eventName !== "SERVICE_DEPLOYMENT_FAILED" && event.eventName !== "SERVICE_DEPLOYMENT_COMPLETED") {
    return { kind: "ignored", eventName: event.eventName };
  }
  for (let attempt = 0; ; attempt++) {
    const { value: state, version } = await ports.state.load(stateKey(ports));
    const entry = Object.entries(state.services).find(([, s]) => s.deploymentId === event.deploymentId);
    // Unknown: not ours, or a repeated event for a failure already recorded (its entry was rolled back).
    if (!entry) return { kind: "unknown-deployment", deploymentId: event.deploymentId };
    const [service, deployed] = entry;
    const parent = await ports.repository.parentOf(deployed.commit);
    // A refused comment is reported, never fatal: the pin and the event must not depend on it.
    const commentFailures: string[] = [];
    const reported = () => (commentFailures.length > 0 ? { commentFailures } : {});
    if (event.eventName === "SERVICE_DEPLOYMENT_COMPLETED") {
      await commentSafely(ports.repository, commentFailures, parent, deployed.commit,
        `proxy-fleet: **${service}** is running ${deployed.hash.slice(0, 19)} (deployment ${event.deploymentId} completed).`);
      return { kind: "completed", service, hash: deployed.hash, commit: deployed.commit, ...reported() };
    }

    const services = { ...state.services };
    if (deployed.previous) services[service] = deployed.previous;
    else delete services[service];
    const failed = { ...state.failed, [service]: rememberFailure(state.failed[service] ?? [], deployed.hash) };
    if (!(await ports.state.save(stateKey(ports), { ...state, services, failed }, version))) {
      if (attempt >= MAX_CONFLICT_RETRIES) throw new Error("rollout state kept changing under the watch");
      continue;
    }
    if (ports.accepted) await pinRunningConfig(ports.accepted, service, deployed.previous?.commit);
    await commentSafely(ports.repository, commentFailures, parent, deployed.commit, [
      `**proxy-fleet: the deployment of ${service} failed and ECS rolled it back.**`,
      "",
      `- version ${deployed.hash} is pinned as failed and will not be retried automatically`,
      `- ${service} keeps running ${deployed.previous ? deployed.previous.hash.slice(0, 19) : "its previous task definition"}`,
      `- reason: ${clip(event.reason ?? "not given", ITEM_LIMIT)}`,
      "",
      "Push a fix: the next commit that changes this service rolls out normally.",
    ].join("\n"));
    await ports.events.publish("Config Rollout Failed", {
      repository: ports.repository.name, branch: ports.branch, service, hash: deployed.hash, commit: deployed.commit,
      deploymentId: event.deploymentId, reason: event.reason,
    });
    return { kind: "failed", service, hash: deployed.hash, commit: deployed.commit, ...reported() };
  }
}

/**
 * After ECS rolled `service` back, the current accepted snapshot says that the service runs the config of
 * `runningCommit` (or nothing known): the DNS loop then follows the names of the config that actually runs.
 * A conditional replace: a snapshot accepted meanwhile is re-read and pinned in turn.
 */
async function pinRunningConfig(accepted: AcceptedStore, service: string, runningCommit: string | undefined): Promise<void> {
  const pin = await runningConfig(accepted, runningCommit);
  for (let attempt = 0; ; attempt++) {
    const current = await accepted.current();
    if (!current) return;
    if (current.snapshot.pinned && service in current.snapshot.pinned && isDeepStrictEqual(current.snapshot.pinned[service], pin)) return;
    const snapshot = { ...current.snapshot, pinned: { ...current.snapshot.pinned, [service]: pin } };
    if (await accepted.replaceCurrent(snapshot, current.token)) return;
    if (attempt >= MAX_CONFLICT_RETRIES) throw new Error("the accepted snapshot kept changing under the watch");
  }
}
