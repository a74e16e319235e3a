// What the rollout loop needs from the outside world; functions/aws/ implements it against CodeCommit,
// S3, ECS, DynamoDB and EventBridge.
import type { ConfigTree } from "../fleet/tree.ts";
import type { Bundle } from "../render/bundle.ts";
import type { AcceptedSnapshot } from "../dns/ports.ts";

export interface CommentLocation {
  readonly filePath: string;
  readonly filePosition: number;
}

export interface Repository {
  readonly name: string;
  branchHead(branch: string): Promise<string>;
  /** The first parent, undefined for a root commit. */
  parentOf(commit: string): Promise<string | undefined>;
  /** Paths changed between two commits (both sides of renames). */
  changedPaths(before: string, after: string): Promise<string[]>;
  treeAt(commit: string): ConfigTree;
  /** Idempotent: the same comment on the same commit is posted once. */
  comment(before: string | undefined, after: string, content: string, location?: CommentLocation): Promise<void>;
}

/** Where each fleet service runs. Services without an entry are not deployed by this stage. */
export interface EcsTarget {
  readonly cluster: string;
  readonly service: string;
  /** The container that runs the agent and reads the bundle. */
  readonly container: string;
}

export interface Deployer {
  /** Registers a copy of the service's current task definition with the bundle pinned; returns its ARN. */
  registerRevision(target: EcsTarget, pin: BundlePin): Promise<string>;
  /** Starts a rolling deployment of that revision; returns the deployment id. */
  updateService(target: EcsTarget, taskDefinitionArn: string): Promise<string>;
}

export interface BundlePin {
  readonly key: string;
  readonly hash: string;
  readonly commit: string;
}

export interface BundleStore {
  /** Content-addressed and write-once: storing the same bundle again changes nothing. */
  putBundle(bundle: Bundle): Promise<string>;
  /** Writes the snapshot to its commit's history and makes it the current one. */
  putAccepted(snapshot: AcceptedSnapshot): Promise<void>;
}

/** The accepted snapshots, for the rollout watch: it re-points the current one at what actually runs. */
export interface AcceptedStore {
  /** The current snapshot with a token for a conditional replace; undefined when there is none. */
  current(): Promise<{ snapshot: AcceptedSnapshot; token: string } | undefined>;
  /** The snapshot accepted at a commit (its history entry). */
  atCommit(commit: string): Promise<AcceptedSnapshot | undefined>;
  /** Replaces the current snapshot only if it is still the one read with `token`; false otherwise. */
  replaceCurrent(snapshot: AcceptedSnapshot, token: string): Promise<boolean>;
}

export interface DeployedService {
  readonly hash: string;
  readonly commit: string;
  readonly taskDefinition: string;
  readonly deploymentId: string;
  /** What ran before this deployment: what ECS rolls back to if it fails. */
  readonly previous?: Omit<DeployedService, "previous">;
}

export interface RolloutState {
  /** The last branch head this loop finished with, accepted or rejected. */
  readonly lastProcessedCommit?: string;
  readonly lastAcceptedCommit?: string;
  /** The files the last accepted config read: a commit touching none of them is irrelevant. */
  readonly acceptedFiles?: readonly string[];
  readonly services: Readonly<Record<string, DeployedService>>;
  /** Bundle hashes whose deployment failed, per service: never rolled out again automatically. */
  readonly failed: Readonly<Record<string, readonly string[]>>;
}

export const EMPTY_ROLLOUT_STATE: RolloutState = { services: {}, failed: {} };

export interface RolloutStateStore {
  load(key: string): Promise<{ value: RolloutState; version: number }>;
  save(key: string, state: RolloutState, expectedVersion: number): Promise<boolean>;
}

export interface Publisher {
  publish(detailType: string, detail: object): Promise<void>;
}
