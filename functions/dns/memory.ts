// In-memory ports for the DNS loop: the local mode runs on them, and tests use them to check the loop's
// logic apart from AWS. They keep the same contracts as the AWS adapters (versions, conditional saves).
import type { TargetRef } from "../plan/target-groups.ts";
import { LookupSchedule, NO_OWNERSHIP, type GroupOwnership } from "./ports.ts";
import type { DnsClient } from "./resolve.ts";
import type { SyncPorts } from "./sync.ts";
import { targetKey } from "../plan/target-groups.ts";
import type {
  AcceptedConfigSource, AcceptedSnapshot, DnsStateStore, DocumentStore, LeaseRequest, LeaseStore, OwnershipStore, TargetGroupApi, Versioned,
} from "./ports.ts";
import type { RecordState } from "./tracker.ts";

export class MemoryConfig implements AcceptedConfigSource {
  snapshot: AcceptedSnapshot | undefined;
  constructor(snapshot?: AcceptedSnapshot) {
    this.snapshot = snapshot;
  }
  async load() {
    return this.snapshot;
  }
}

class VersionedMap<T> {
  readonly items = new Map<string, Versioned<T>>();
  get(key: string): Versioned<T> | undefined {
    return this.items.get(key);
  }
  save(key: string, value: T, expectedVersion: number): boolean {
    if ((this.items.get(key)?.version ?? 0) !== expectedVersion) return false;
    this.items.set(key, { value: structuredClone(value), version: expectedVersion + 1 });
    return true;
  }
}

export class MemoryDnsState implements DnsStateStore {
  readonly records = new VersionedMap<RecordState>();
  async load(ids: readonly string[]) {
    const result = new Map<string, Versioned<RecordState>>();
    for (const id of ids) {
      const item = this.records.get(id);
      if (item) result.set(id, structuredClone(item));
    }
    return result;
  }
  async save(id: string, state: RecordState, expectedVersion: number) {
    return this.records.save(id, state, expectedVersion);
  }
}

export class MemoryOwnership implements OwnershipStore {
  readonly groups = new VersionedMap<GroupOwnership>();
  private readonly leases: MemoryLeases;
  /** The leases its leaseAndClaim takes: the run's LeaseStore. */
  constructor(leases: MemoryLeases) {
    this.leases = leases;
  }
  async load(arn: string) {
    return structuredClone(this.groups.get(arn) ?? NO_OWNERSHIP);
  }
  async loadMany(arns: readonly string[]) {
    const result = new Map<string, Versioned<GroupOwnership>>();
    for (const arn of arns) {
      const item = this.groups.get(arn);
      if (item) result.set(arn, structuredClone(item));
    }
    return result;
  }
  async save(arn: string, ownership: GroupOwnership, expectedVersion: number) {
    return this.groups.save(arn, ownership, expectedVersion);
  }
  async leaseAndClaim(arn: string, lease: LeaseRequest, expectedVersion: number, claim?: GroupOwnership) {
    if (!this.leases.available(arn, lease.holder, lease.now)) return "busy" as const;
    if ((this.groups.get(arn)?.version ?? 0) !== expectedVersion) return "changed" as const;
    await this.leases.acquire(arn, lease.holder, lease.now, lease.ttlMs);
    if (claim) this.groups.save(arn, claim, expectedVersion);
    return "leased" as const;
  }
}

export class MemoryTargetGroups implements TargetGroupApi {
  readonly registered = new Map<string, Map<string, TargetRef>>();
  private group(arn: string) {
    let group = this.registered.get(arn);
    if (!group) this.registered.set(arn, (group = new Map()));
    return group;
  }
  async describe(arn: string) {
    return [...this.group(arn).values()];
  }
  async register(arn: string, targets: readonly TargetRef[]) {
    for (const t of targets) this.group(arn).set(targetKey(t), t);
  }
  async deregister(arn: string, targets: readonly TargetRef[]) {
    for (const t of targets) this.group(arn).delete(targetKey(t));
  }
}

export class MemoryDocuments implements DocumentStore {
  readonly documents = new Map<string, { body: string; hash: string }>();
  async storedHash(service: string) {
    return this.documents.get(service)?.hash;
  }
  async put(service: string, body: string, hash: string) {
    this.documents.set(service, { body, hash });
  }
}

export class MemoryLeases implements LeaseStore {
  readonly leases = new Map<string, { holder: string; expiresAt: number }>();
  available(resource: string, holder: string, now: number): boolean {
    const lease = this.leases.get(resource);
    return !lease || lease.expiresAt <= now || lease.holder === holder;
  }
  async acquire(resource: string, holder: string, now: number, ttlMs: number) {
    if (!this.available(resource, holder, now)) return false;
    this.leases.set(resource, { holder, expiresAt: now + ttlMs });
    return true;
  }
  async release(resource: string, holder: string) {
    if (this.leases.get(resource)?.holder === holder) this.leases.delete(resource);
  }
}

/** A whole DNS loop in memory around one snapshot and one DNS client: the local mode and the tests. */
export function memoryDnsPorts(snapshot: AcceptedSnapshot, dns: () => DnsClient) {
  const leases = new MemoryLeases();
  return {
    config: new MemoryConfig(snapshot),
    dns,
    state: new MemoryDnsState(),
    ownership: new MemoryOwnership(leases),
    targetGroups: new MemoryTargetGroups(),
    documents: new MemoryDocuments(),
    leases,
    schedule: new LookupSchedule(),
  } satisfies SyncPorts;
}
