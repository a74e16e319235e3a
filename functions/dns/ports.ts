// What the DNS loop needs from the outside world. functions/aws/ implements these against AWS;
// tests and the local mode use in-memory ones.
import type { ConvergedMark, TargetRef } from "../plan/target-groups.ts";
import type { RecordState } from "./tracker.ts";

/** The accepted config: a snapshot of the config repository's files at an accepted commit. */
export interface AcceptedSnapshot {
  readonly commit: string;
  readonly files: Readonly<Record<string, string>>;
  /**
   * Services that do not run this commit's config: their deployment failed and ECS rolled them back (or a
   * version pinned as failed was skipped). Each names the accepted config it still runs, or null when none
   * of the fleet's is known to run (the loops then leave that service alone). Readers take such a service
   * from its own snapshot, so they follow the config that is actually running.
   */
  readonly pinned?: Readonly<Record<string, PinnedService | null>>;
}

export interface PinnedService {
  readonly commit: string;
  readonly files: Readonly<Record<string, string>>;
}

export interface AcceptedConfigSource {
  load(): Promise<AcceptedSnapshot | undefined>;
}

export interface Versioned<T> {
  readonly value: T;
  /** 0 when the item does not exist yet. */
  readonly version: number;
}

/** Per-record DNS state, written with optimistic concurrency: a save names the version it read. */
export interface DnsStateStore {
  load(ids: readonly string[]): Promise<Map<string, Versioned<RecordState>>>;
  /** False when someone else wrote first. */
  save(id: string, state: RecordState, expectedVersion: number): Promise<boolean>;
}

/** What the loop keeps per target group: the targets it owns, and the desired set it last converged to. */
export interface GroupOwnership {
  /** Targets this system registered ("id:port"). */
  readonly targets: readonly string[];
  readonly converged?: ConvergedMark;
}

export const NO_OWNERSHIP: Versioned<GroupOwnership> = { value: { targets: [] }, version: 0 };

export interface OwnershipStore {
  load(arn: string): Promise<Versioned<GroupOwnership>>;
  /** Many groups at once (batched reads); a group with nothing stored is absent from the map. */
  loadMany(arns: readonly string[]): Promise<Map<string, Versioned<GroupOwnership>>>;
  save(arn: string, ownership: GroupOwnership, expectedVersion: number): Promise<boolean>;
  /**
   * Takes the group's lease (the LeaseStore's, for resource `arn`) and, all or nothing with it, checks that the
   * group's ownership is still at `expectedVersion`, writing `claim` over it when given (its version then moves
   * on by one). "busy": another holder has the lease; "changed": the ownership moved on. Either way nothing is written.
   */
  leaseAndClaim(arn: string, lease: LeaseRequest, expectedVersion: number, claim?: GroupOwnership): Promise<"leased" | "busy" | "changed">;
}

export interface LeaseRequest {
  readonly holder: string;
  readonly now: number;
  readonly ttlMs: number;
}

/** A short lease that makes one run the only writer of a resource; it expires by itself if its holder dies. */
export interface LeaseStore {
  acquire(resource: string, holder: string, now: number, ttlMs: number): Promise<boolean>;
  release(resource: string, holder: string): Promise<void>;
}

export interface TargetGroupApi {
  /** Registered targets, draining ones excluded. */
  describe(arn: string): Promise<TargetRef[]>;
  register(arn: string, targets: readonly TargetRef[], availabilityZone?: "all"): Promise<void>;
  deregister(arn: string, targets: readonly TargetRef[]): Promise<void>;
}

export interface DocumentStore {
  /** The content hash of the stored runtime document, undefined when there is none. */
  storedHash(service: string): Promise<string | undefined>;
  put(service: string, body: string, hash: string): Promise<void>;
}

/**
 * When each record is next due, and the names its last answer came through; kept in memory across warm
 * invocations (a cold start looks up everything, and a change to a CNAME target is then seen by the schedule).
 * Also when this environment last described each target group (a full check that found nothing to do
 * writes nothing, so it is remembered here; a cold start goes by the stored converge time alone).
 */
export class LookupSchedule {
  private readonly due = new Map<string, number>();
  private readonly through = new Map<string, readonly string[]>();
  private readonly described = new Map<string, number>();
  describedAt(arn: string): number | undefined {
    return this.described.get(arn);
  }
  setDescribed(arn: string, at: number): void {
    this.described.set(arn, at);
  }
  /** The CNAME values and alias targets the record's last answer came through. */
  via(id: string): readonly string[] {
    return this.through.get(id) ?? [];
  }
  setVia(id: string, names: readonly string[]): void {
    if (names.length > 0) this.through.set(id, names);
    else this.through.delete(id);
  }
  dueAt(id: string): number {
    return this.due.get(id) ?? 0;
  }
  set(id: string, at: number): void {
    this.due.set(id, at);
  }
}
