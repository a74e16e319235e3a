// One run of the DNS loop: look up what is due, update each name's target list, then converge the
// runtime target documents and NLB target groups with the result. Level-triggered: the request only
// says which names to look at now; every target is recomputed from state and compared with reality.
import { createHash } from "node:crypto";
import { durationMs } from "../fleet/duration.ts";
import { loadFleet, type FleetModel, type TargetGroupModel } from "../fleet/load.ts";
import { MemoryTree } from "../fleet/tree.ts";
import { planDocuments, runtimeDocuments, type DocumentWrite } from "../plan/documents.ts";
import {
  batches, desiredDigestOf, desiredTargets, fullCheckOverdueMs, groupCheck, limitFullChecks, othersRegistered, planAgainst, planFromMark,
  plannableFromMark, type ConvergedMark, type DesiredTargets, type GroupCheck, type TargetGroupPlan, type TargetRef,
} from "../plan/target-groups.ts";
import { recordId, recordsAffectedBy, recordsInGroupOrder, type RecordKey } from "./names.ts";
import {
  NO_OWNERSHIP, type AcceptedConfigSource, type AcceptedSnapshot, type DnsStateStore, type DocumentStore, type GroupOwnership, type LeaseRequest, type LeaseStore,
  type LookupSchedule, type OwnershipStore, type TargetGroupApi, type Versioned,
} from "./ports.ts";
import type { DnsClient, Observation } from "./resolve.ts";
import { EMPTY_RECORD, track, type RecordState, type Step, type TrackerPolicy } from "./tracker.ts";
import { zoneAwareClient, type Source, type SourcedDnsClient, type ZonePort } from "./zone.ts";
import { limiter, mapLimit } from "../plan/concurrency.ts";
import { groupReadiness } from "./group-readiness.ts";

export type SyncRequest =
  | { readonly scope: "due" }
  | { readonly scope: "names"; readonly names: readonly string[] };

export interface SyncPorts {
  readonly config: AcceptedConfigSource;
  readonly dns: (model: FleetModel) => DnsClient;
  readonly state: DnsStateStore;
  readonly ownership: OwnershipStore;
  readonly targetGroups: TargetGroupApi;
  readonly documents: DocumentStore;
  readonly leases: LeaseStore;
  readonly schedule: LookupSchedule;
  /** Route 53: names in these hosted zones are read from the zone, never through the resolver's cache. */
  readonly zones?: ZonePort;
  /** This deployment's region (latency records). */
  readonly region?: string;
  /**
   * Announces removals that started being held (or whose held set changed) — "DNS Removal Held" in AWS.
   * Each is recorded as announced only after this returns, so a failed announcement is retried by the
   * next run, and a removal that stays held is never announced twice.
   */
  readonly announceHeld?: (commit: string, held: ReadonlyArray<{ record: string; held: readonly string[] }>) => Promise<void>;
}

export interface SyncOptions {
  readonly now: number;
  /** Plan only: read everything, write nothing. */
  readonly dryRun?: boolean;
  readonly batchSize?: number;
  /** DNS lookups (and state writes) in flight at once. */
  readonly concurrency?: number;
  /** Target groups converged side by side. */
  readonly groupConcurrency?: number;
  /** An unchanged target group is still described once per this period (see groupCheck). */
  readonly fullCheckMs?: number;
  /** Full checks per run at most, the most overdue first (see limitFullChecks). */
  readonly maxFullChecks?: number;
  /** Records read, looked up and tracked per step: what the run holds in full at once. */
  readonly chunkSize?: number;
  /** Names this run as a lease holder. */
  readonly runId?: string;
}

export const FULL_CHECK_MS = 15 * 60_000;
/** Enough for 1,000 groups checked every 7.5–15 minutes by a run a minute. */
export const MAX_FULL_CHECKS = 100;
/**
 * V8's old space for the dns-sync function (MB), set through NODE_OPTIONS by the stack and used by the bench, so
 * the heap that is benched is the one deployed. Uncapped, V8 lets a 100k-name run's garbage pile up to ~410 MiB
 * before collecting; 256 keeps the run's peak near 300 MiB and leaves the rest of 512 MB to the SDK, code and buffers.
 */
export const DNS_SYNC_OLD_SPACE_MB = 256;
const GROUP_CONCURRENCY = 32;
/** 16 BatchGetItem calls of 100 (functions/aws/state-table.ts): one round trip per chunk. */
const CHUNK_SIZE = 1_600;
/** Chunks in flight: one chunk's lookups overlap the next one's reads. */
const CHUNKS_IN_FLIGHT = 2;

/** Longer than any run that holds it (the Lambda times out at 5 minutes). */
const LEASE_MS = 6 * 60_000;

export interface RecordReport {
  readonly record: string;
  readonly observation: Observation["kind"];
  /** Who answered: the hosted zone, or the resolver (names outside the watched zones, or a policy the zone cannot settle). */
  readonly source: Source;
  /** The hosted zone that answered, or why the resolver was asked for a name in a zone. */
  readonly zone?: string;
  readonly why?: string;
  /** The addresses in the answer. */
  readonly answer: readonly string[];
  readonly failure?: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly held: readonly string[];
  /** The held set is newly held: announced by this run. */
  readonly announced: boolean;
  /** How long the name's lookups have failed without a break (0 when this one was answered). */
  readonly failingForMs: number;
}

export interface SyncReport {
  readonly commit?: string;
  readonly skipped?: string;
  readonly looked: readonly RecordReport[];
  readonly documents: readonly DocumentWrite[];
  readonly targetGroups: readonly TargetGroupPlan[];
  readonly stateConflicts: number;
}

const MAX_CONFLICT_RETRIES = 5;

export function trackerPolicy(model: FleetModel): TrackerPolicy {
  const minTtlMs = durationMs(model.dns.minTtl);
  return {
    removeAfterMisses: model.dns.removeAfterMisses,
    maxShrinkRatio: model.dns.maxShrinkPercent / 100,
    missIntervalMs: minTtlMs,
    minTtlMs,
    maxTtlMs: durationMs(model.dns.maxTtl),
  };
}

export async function syncDns(request: SyncRequest, ports: SyncPorts, options: SyncOptions): Promise<SyncReport> {
  const releases = new LeaseReleases(ports.leases);
  let report: SyncReport;
  try {
    report = await runSync(request, ports, options, releases);
  } finally {
    await releases.finished(); // no release is left in flight when the run returns, however it ends
  }
  await releases.throwIfFailed();
  return report;
}

/**
 * A group's lease is released once its mark is written, without holding the group's slot: the next group's
 * chain starts meanwhile, and the run waits for every release before it returns.
 */
class LeaseReleases {
  private readonly pending: Array<Promise<Settled<void>>> = [];
  private readonly leases: LeaseStore;
  constructor(leases: LeaseStore) {
    this.leases = leases;
  }

  release(resource: string, holder: string): void {
    this.pending.push(settle(this.leases.release(resource, holder)));
  }

  async finished(): Promise<void> {
    await Promise.all(this.pending);
  }

  /** A release that failed fails the run (its lease then expires by itself). */
  async throwIfFailed(): Promise<void> {
    for (const outcome of await Promise.all(this.pending)) unwrap(outcome);
  }
}

async function runSync(request: SyncRequest, ports: SyncPorts, options: SyncOptions, releases: LeaseReleases): Promise<SyncReport> {
  const snapshot = await ports.config.load();
  if (!snapshot) return emptyReport({ skipped: "no accepted config yet" });
  const model = await acceptedModel(snapshot);
  if (!model) return emptyReport({ commit: snapshot.commit, skipped: "the accepted config no longer validates" });
  const policy = trackerPolicy(model);

  const isDue = request.scope === "names"
    ? (r: RecordKey) => recordsAffectedBy([r, ...ports.schedule.via(recordId(r)).map((name) => ({ name, family: r.family }))], request.names).length > 0
    : (r: RecordKey) => ports.schedule.dueAt(recordId(r)) <= options.now;
  const client = await sourcedClient(ports, model);
  // Every record's addresses, one comma-joined string per record: the only per-name data the run keeps
  // once a chunk is done (full states and answers live only while their chunk is processed).
  const addresses = new Map<string, string>();
  const announceable = new Map<string, Versioned<RecordState>>();
  const addressesOf = (family: 4 | 6) => (name: string) => {
    const joined = addresses.get(recordId({ name, family }));
    return joined ? joined.split(",") : []; // "" is a record with no address (say, its first lookups failed)
  };

  // A group is decided as soon as every record it names is tracked, and a changed one is converged right
  // then, while later chunks are still looked up: its round trips hide behind the tracking. Full checks wait
  // for every decision (the most overdue go first), and share the same bound on groups in flight.
  const groups = model.targetGroups;
  const fullCheckMs = options.fullCheckMs ?? FULL_CHECK_MS;
  const convergeSlot = limiter(options.groupConcurrency ?? GROUP_CONCURRENCY);
  const decisions = new Array<Promise<Settled<GroupDecision>>>(groups.length);
  /** Every decided group's early plan: converged for a changed group, undefined for the others (they wait for limitFullChecks). */
  const changedPlans = new Map<number, Promise<Settled<TargetGroupPlan | undefined>>>();
  const decideWhenReady = (indexes: readonly number[]) => {
    if (indexes.length === 0) return;
    // Ownership is read for the groups that just became ready (one batch), and a decision keeps only the
    // converged mark: every group's owned targets held through the whole tracking phase (500k at 100k
    // names) made the 256 MB heap collect over and over.
    const stored = ports.ownership.loadMany(indexes.map((i) => groups[i]!.arn));
    for (const index of indexes) {
      const decided = (async () => {
        const group = groups[index]!;
        const ownership = (await stored).get(group.arn) ?? NO_OWNERSHIP;
        const { digest, skipped } = desiredDigestOf(group, addressesOf(familyOf(group)));
        const mark = ownership.value.converged;
        const described = ports.schedule.describedAt(group.arn);
        const check = groupCheck(group.arn, digest, mark, described, options.now, fullCheckMs);
        const overdueMs = check === "full" ? fullCheckOverdueMs(group.arn, mark!, described, options.now, fullCheckMs) : 0;
        return { decision: { group, digest, check, overdueMs, skipped }, ownership };
      })();
      decisions[index] = settle(decided.then(({ decision }) => decision));
      // The desired set is built again when the group's turn comes, not kept: groups wait here for a slot, and
      // at 100k names a queue of desired sets (500 targets each) does not fit in the deployed heap.
      changedPlans.set(index, settle(decided.then(({ decision, ownership }) => (decision.check === "changed"
        ? convergeSlot(() => convergeTargetGroup({ ...decision, ownership }, addressesOf(familyOf(decision.group)), ports, options, releases))
        : undefined))));
    }
  };
  const readiness = groupReadiness(groups);
  decideWhenReady(readiness.readyAtStart);

  const lookupsPerChunk = Math.max(1, Math.ceil((options.concurrency ?? 32) / CHUNKS_IN_FLIGHT));
  const tracked = await settle(mapLimit(batches(recordsInGroupOrder(model), options.chunkSize ?? CHUNK_SIZE), CHUNKS_IN_FLIGHT, async (chunk) => {
    const due = chunk.filter(isDue);
    // The stored state and the lookups are independent: read them side by side.
    const [states, sourced] = await Promise.all([
      ports.state.load(chunk.map(recordId)),
      mapLimit(due, lookupsPerChunk, (r) => client.lookup(r.name, r.family)),
    ]);
    const looked = await mapLimit(due.map((record, i) => ({ record, sourced: sourced[i]! })), lookupsPerChunk, ({ record, sourced }) =>
      trackOne(recordId(record), sourced, states, ports, policy, options));
    const ids = chunk.map(recordId);
    for (const id of ids) {
      const state = states.get(id);
      if (state) addresses.set(id, state.value.addressList);
    }
    // An announced hold is recorded on the state it was tracked on, after the announcement.
    for (const { report } of looked) if (report.announced) announceable.set(report.record, states.get(report.record)!);
    decideWhenReady(readiness.done(ids));
    return looked;
  }));
  if (!tracked.ok) {
    // Leave no group half way in the background: every chain started finishes (and releases its lease) first.
    await Promise.all(changedPlans.values());
    throw tracked.error;
  }
  const chunks = tracked.value;
  const looked = chunks.flatMap((chunk) => chunk.map((l) => l.report));
  let stateConflicts = chunks.reduce((n, chunk) => chunk.reduce((m, l) => m + l.conflicts, n), 0);

  const announcements = looked.filter((r) => r.announced).map((r) => ({ record: r.record, held: r.held }));
  const announced = settle((async () => {
    if (announcements.length === 0) return;
    await ports.announceHeld!(snapshot.commit, announcements);
    for (const a of announcements) stateConflicts += await recordAnnounced(a.record, a.held, announceable, ports.state);
  })());

  // Runtime documents and target groups do not depend on each other: a change reaches both at once.
  const [documents, targetGroups, announcedOutcome] = await Promise.all([
    settle(convergeDocuments(model, addressesOf(4), ports.documents, options)),
    settle((async () => {
      const decided = (await Promise.all(decisions)).map(unwrap);
      const checks = limitFullChecks(decided, options.maxFullChecks ?? MAX_FULL_CHECKS);
      // The unchanged groups' ownership is read again now (one round trip), for their full checks and the report.
      const stored = await ports.ownership.loadMany(decided.filter((d) => d.check !== "changed").map((d) => d.group.arn));
      const outcomes = await Promise.all(decided.map(async (d, i) => (d.check === "changed"
        ? changedPlans.get(i)!
        : settle(convergeSlot(() => convergeTargetGroup(
          { ...d, ownership: stored.get(d.group.arn) ?? NO_OWNERSHIP, check: checks[i]! }, addressesOf(familyOf(d.group)), ports, options, releases))))));
      return outcomes.map((outcome) => unwrap(outcome)!); // defined: a changed group's early plan, or the late one
    })()),
    announced,
  ]);
  unwrap(announcedOutcome);
  return { commit: snapshot.commit, looked, documents: unwrap(documents), targetGroups: unwrap(targetGroups), stateConflicts };
}

interface GroupDecision {
  readonly group: TargetGroupModel;
  readonly digest: string;
  readonly check: GroupCheck;
  readonly overdueMs: number;
  readonly skipped: DesiredTargets["skipped"];
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A promise that never rejects, so work started early can fail before anyone awaits it without an unhandled rejection. */
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

const unwrap = <T>(settled: Settled<T>): T => {
  if (!settled.ok) throw settled.error;
  return settled.value;
};

const NONE: readonly string[] = Object.freeze([]);

/** One looked-up record: track the observation, save the state, schedule the next lookup, report. */
async function trackOne(
  id: string,
  { observation, source, zone, why, via }: Awaited<ReturnType<SourcedDnsClient["lookup"]>>,
  states: Map<string, Versioned<RecordState>>,
  ports: SyncPorts,
  policy: TrackerPolicy,
  options: SyncOptions,
): Promise<{ report: RecordReport; conflicts: number }> {
  const result = await trackAndSave(id, observation, states, ports.state, policy, options);
  ports.schedule.set(id, options.now + result.step.nextLookupInMs);
  if (observation.kind !== "failure") ports.schedule.setVia(id, via ?? []);
  const { step } = result;
  return {
    conflicts: result.conflicts,
    report: {
      record: id,
      observation: observation.kind,
      source,
      ...(zone ? { zone } : {}),
      ...(why ? { why } : {}),
      answer: observation.kind === "answer" ? observation.addresses : NONE,
      ...(observation.kind === "failure" ? { failure: `${observation.reason}: ${observation.detail}` } : {}),
      added: step.added.length > 0 ? step.added : NONE,
      removed: step.removed.length > 0 ? step.removed : NONE,
      held: step.held.length > 0 ? step.held : NONE,
      announced: step.announce && !options.dryRun && ports.announceHeld !== undefined,
      failingForMs: step.failingForMs,
    },
  };
}

/** The zone-aware client when Route 53 zones are watched, else the resolver alone. */
async function sourcedClient(ports: SyncPorts, model: FleetModel): Promise<SourcedDnsClient> {
  const resolver: DnsClient = ports.dns(model);
  if (!ports.zones || ports.zones.ids.length === 0) {
    return { lookup: async (name, family) => ({ observation: await resolver.lookup(name, family), source: "resolver" }) };
  }
  return zoneAwareClient({ zones: await ports.zones.hostedZones(), port: ports.zones, resolver, ...(ports.region ? { region: ports.region } : {}) });
}

// Warm invocations reuse the model while the accepted files stay the same.
let cachedModel: { key: string; model: FleetModel } | undefined;

async function acceptedModel(snapshot: AcceptedSnapshot): Promise<FleetModel | undefined> {
  const pinned = Object.entries(snapshot.pinned ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const key = createHash("sha256").update(JSON.stringify([Object.entries(snapshot.files).sort(), pinned])).digest("hex");
  if (cachedModel?.key === key) return cachedModel.model;
  const loaded = await loadFleet(new MemoryTree({ ...snapshot.files }));
  if (!loaded.ok) return undefined;
  const model = await runningModel(loaded.model, pinned);
  cachedModel = { key, model };
  return model;
}

/**
 * The accepted model with each pinned service taken from the config it still runs (a failed deployment
 * rolled back): its names, not the failed commit's, are the ones looked up. A service pinned to nothing
 * known is left out, so its runtime document is left as it is.
 */
export async function runningModel(model: FleetModel, pinned: ReadonlyArray<readonly [string, { files: Readonly<Record<string, string>> } | null]>): Promise<FleetModel> {
  if (pinned.length === 0) return model;
  const services = new Map(model.services.map((s) => [s.name, s] as const));
  for (const [name, running] of pinned) {
    const loaded = running ? await loadFleet(new MemoryTree({ ...running.files })) : undefined;
    const service = loaded?.ok ? loaded.model.services.find((s) => s.name === name) : undefined;
    if (service) services.set(name, service);
    else services.delete(name);
  }
  return { ...model, services: [...services.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) };
}

function emptyReport(extra: { commit?: string; skipped: string }): SyncReport {
  return { ...extra, looked: [], documents: [], targetGroups: [], stateConflicts: 0 };
}

/** Applies one observation with optimistic concurrency: on a conflict, re-read and apply it again. */
async function trackAndSave(
  id: string,
  observation: Observation,
  states: Map<string, Versioned<RecordState>>,
  store: DnsStateStore,
  policy: TrackerPolicy,
  options: SyncOptions,
): Promise<{ step: Step; conflicts: number }> {
  for (let conflicts = 0; ; conflicts++) {
    const current = states.get(id) ?? { value: EMPTY_RECORD, version: 0 };
    const step = track(current.value, observation, policy, options.now);
    if (!step.changed || options.dryRun) {
      if (options.dryRun) states.set(id, { value: step.state, version: current.version });
      return { step, conflicts };
    }
    if (await store.save(id, step.state, current.version)) {
      states.set(id, { value: step.state, version: current.version + 1 });
      return { step, conflicts };
    }
    if (conflicts >= MAX_CONFLICT_RETRIES) throw new Error(`DNS state for ${id} kept changing under this run`);
    const fresh = await store.load([id]);
    states.set(id, fresh.get(id) ?? { value: EMPTY_RECORD, version: 0 });
  }
}

/** Records a held set as announced (a conditional write; on a conflict, re-read and record it on the fresh state). */
async function recordAnnounced(id: string, held: readonly string[], states: Map<string, Versioned<RecordState>>, store: DnsStateStore): Promise<number> {
  for (let conflicts = 0; ; conflicts++) {
    const current = states.get(id) ?? { value: EMPTY_RECORD, version: 0 };
    if (current.value.heldAnnounced?.join() === held.join()) return conflicts;
    const next: RecordState = { ...current.value, heldAnnounced: [...held] };
    if (await store.save(id, next, current.version)) {
      states.set(id, { value: next, version: current.version + 1 });
      return conflicts;
    }
    if (conflicts >= MAX_CONFLICT_RETRIES) throw new Error(`DNS state for ${id} kept changing under this run`);
    const fresh = await store.load([id]);
    states.set(id, fresh.get(id) ?? { value: EMPTY_RECORD, version: 0 });
  }
}

async function convergeDocuments(
  model: FleetModel,
  addressesOf: (name: string) => readonly string[],
  store: DocumentStore,
  options: SyncOptions,
): Promise<DocumentWrite[]> {
  const documents = runtimeDocuments(model, addressesOf);
  const limit = options.groupConcurrency ?? GROUP_CONCURRENCY;
  const stored = new Map(await mapLimit(documents, limit, async (d) => [d.service, await store.storedHash(d.service)] as const));
  const writes = planDocuments(documents, stored);
  if (!options.dryRun) await mapLimit(writes, limit, (write) => store.put(write.service, write.body, write.hash));
  return writes;
}

const sortedKeys = (keys: readonly string[]) => [...keys].sort().join();
const familyOf = (group: TargetGroupModel) => (group.ipAddressType === "ipv6" ? 6 : 4);

/**
 * A group whose desired targets are those it last converged to is left alone (no call at all) until its
 * full check is due; then it is described, and only drift found takes the lease. A group whose desired
 * targets changed takes the group's lease (one writer per group) and is planned and applied under it: from
 * its converged mark when that vouches for what is registered (plannableFromMark), else from a describe.
 * Ownership is recorded before registering and released after deregistering, so a crash in between leaves
 * at worst an owned entry for a missing target, which a later run forgets. The converged mark is written
 * last, so a run that stops half way leaves the group to be converged again. A group whose lease another
 * run holds is left to that run.
 */
async function convergeTargetGroup(
  { group, ownership: stored, digest, check, skipped }: {
    group: TargetGroupModel; ownership: Versioned<GroupOwnership>; digest: string; check: GroupCheck; skipped: DesiredTargets["skipped"];
  },
  addressesOf: (name: string) => readonly string[],
  ports: SyncPorts,
  options: SyncOptions,
  releases: LeaseReleases,
): Promise<TargetGroupPlan> {
  if (check === "skip" || check === "deferred") {
    return {
      group: group.name, arn: group.arn, ...(group.availabilityZone ? { availabilityZone: group.availabilityZone } : {}),
      register: [], deregister: [], owned: stored.value.targets, skipped, check,
    };
  }
  const desired = desiredTargets(group, addressesOf);
  if (check === "changed" && !options.dryRun) return applyUnderLease(group, desired, digest, check, ports, options, releases, stored);

  const registered = await ports.targetGroups.describe(group.arn);
  const plan: TargetGroupPlan = { ...planAgainst(group, desired, { registered, owned: stored.value.targets }), check };
  if (options.dryRun) return plan;
  ports.schedule.setDescribed(group.arn, options.now);
  const inSync = plan.register.length === 0 && plan.deregister.length === 0 && sortedKeys(plan.owned) === sortedKeys(stored.value.targets);
  // In sync: the report keeps the stored list rather than a second copy of every target key.
  // A mark that no longer counts someone else's targets right is rewritten, so planning from it stays sound.
  const othersAsMarked = othersRegistered(registered, plan) === stored.value.converged?.othersRegistered;
  return inSync && othersAsMarked ? { ...plan, owned: stored.value.targets } : applyUnderLease(group, desired, digest, check, ports, options, releases);
}

async function applyUnderLease(
  group: TargetGroupModel,
  desired: DesiredTargets,
  digest: string,
  check: GroupCheck,
  ports: SyncPorts,
  options: SyncOptions,
  releases: LeaseReleases,
  readBefore?: Versioned<GroupOwnership>,
): Promise<TargetGroupPlan> {
  const holder = options.runId ?? `run-${options.now}-${Math.random().toString(36).slice(2)}`;
  const plannable = (ownership: Versioned<GroupOwnership>) =>
    plannableFromMark(group.arn, ownership.value.converged, ports.schedule.describedAt(group.arn), options.now, options.fullCheckMs ?? FULL_CHECK_MS);
  // A group whose mark vouches for it is planned from what the run read, and leased and claimed in one write that
  // holds only if nothing changed since: no read under the lease. Anything else takes the lease, then reads.
  const early = readBefore && plannable(readBefore)
    ? await leaseWithPlanFromMark(group, desired, check, readBefore, { holder, now: options.now, ttlMs: LEASE_MS }, ports)
    : "changed";
  if (early === "busy" || (early === "changed" && !(await ports.leases.acquire(group.arn, holder, options.now, LEASE_MS)))) {
    return {
      group: group.name, arn: group.arn, ...(group.availabilityZone ? { availabilityZone: group.availabilityZone } : {}),
      register: [], deregister: [], owned: [], skipped: desired.skipped, busy: true, check,
    };
  }
  try {
    const { locked, ownership, claimed, version, registered } = early === "changed" ? await planUnderLease(group, desired, check, plannable, readBefore, ports, options) : early;
    const batchSize = options.batchSize ?? 100;
    for (const batch of batches(locked.register, batchSize)) await ports.targetGroups.register(group.arn, batch, locked.availabilityZone);
    for (const batch of batches(locked.deregister, batchSize)) await ports.targetGroups.deregister(group.arn, batch);
    const before = ownership.value.converged;
    const mark: ConvergedMark = registered === "as marked"
      ? { digest, at: options.now, describedAt: before!.describedAt!, othersRegistered: 0 }
      : { digest, at: options.now, describedAt: options.now, othersRegistered: othersRegistered(registered, locked) };
    const stale = claimed.join() !== locked.owned.join() || version !== ownership.version || !sameMark(before, mark);
    if (stale) await ports.ownership.save(group.arn, { targets: locked.owned, converged: mark }, version);
    return locked;
  } finally {
    releases.release(group.arn, holder);
  }
}

/** A group's plan under its lease, with what it owned, what it claimed and the ownership's version after the claim. */
interface LockedPlan {
  readonly locked: TargetGroupPlan;
  readonly ownership: Versioned<GroupOwnership>;
  readonly claimed: readonly string[];
  readonly version: number;
  readonly registered: readonly TargetRef[] | "as marked";
}

/**
 * Plans from the mark the run read, then takes the lease and claims in one write conditional on that read being
 * current (leaseAndClaim). "changed": nothing was written, and the group takes the lease and reads again.
 */
async function leaseWithPlanFromMark(
  group: TargetGroupModel,
  desired: DesiredTargets,
  check: GroupCheck,
  readBefore: Versioned<GroupOwnership>,
  lease: LeaseRequest,
  ports: SyncPorts,
): Promise<LockedPlan | "busy" | "changed"> {
  const locked: TargetGroupPlan = { ...planFromMark(group, desired, readBefore.value.targets), check, fromMark: true };
  const { claimed, needed } = claimOf(readBefore.value.targets, locked.owned);
  const outcome = await ports.ownership.leaseAndClaim(group.arn, lease, readBefore.version, needed ? { targets: claimed } : undefined);
  if (outcome !== "leased") return outcome;
  return { locked, ownership: readBefore, claimed, version: readBefore.version + (needed ? 1 : 0), registered: "as marked" };
}

/** Under the lease: reads what the group holds (registrationsUnderLease), plans, and claims before any registration. */
async function planUnderLease(
  group: TargetGroupModel,
  desired: DesiredTargets,
  check: GroupCheck,
  plannable: (ownership: Versioned<GroupOwnership>) => boolean,
  readBefore: Versioned<GroupOwnership> | undefined,
  ports: SyncPorts,
  options: SyncOptions,
): Promise<LockedPlan> {
  const { registered, ownership } = await registrationsUnderLease(group.arn, plannable, readBefore, ports, options);
  const locked: TargetGroupPlan = registered === "as marked"
    ? { ...planFromMark(group, desired, ownership.value.targets), check, fromMark: true }
    : { ...planAgainst(group, desired, { registered, owned: ownership.value.targets }), check };
  const { claimed, needed } = claimOf(ownership.value.targets, locked.owned);
  // Not converged until the registrations are done: the claim carries no converged mark.
  if (needed && !(await ports.ownership.save(group.arn, { targets: claimed }, ownership.version))) throw new Error(`ownership of ${group.arn} changed under its lease`);
  return { locked, ownership, claimed, version: ownership.version + (needed ? 1 : 0), registered };
}

/** What a group owns while its plan is applied: what it owned and what the plan will own. */
function claimOf(owned: readonly string[], planned: readonly string[]): { claimed: string[]; needed: boolean } {
  const before = [...owned].sort();
  const claimed = [...new Set([...before, ...planned])].sort();
  return { claimed, needed: claimed.join() !== before.join() };
}

/**
 * What the group holds, read under its lease: "as marked" when its ownership, as read under the lease, vouches
 * for its registrations (plannableFromMark: exactly the owned targets), else a describe. The read before the lease
 * only says which is likely: the ownership first (then a describe if it no longer vouches), or both at once.
 */
async function registrationsUnderLease(
  arn: string,
  plannable: (ownership: Versioned<GroupOwnership>) => boolean,
  readBefore: Versioned<GroupOwnership> | undefined,
  ports: SyncPorts,
  options: SyncOptions,
): Promise<{ registered: readonly TargetRef[] | "as marked"; ownership: Versioned<GroupOwnership> }> {
  let registered: Promise<readonly TargetRef[]> | undefined;
  let ownership: Versioned<GroupOwnership>;
  if (readBefore && plannable(readBefore)) {
    ownership = await ports.ownership.load(arn);
    if (plannable(ownership)) return { registered: "as marked", ownership };
    registered = ports.targetGroups.describe(arn);
  } else {
    registered = ports.targetGroups.describe(arn);
    ownership = await ports.ownership.load(arn);
  }
  const described = await registered;
  ports.schedule.setDescribed(arn, options.now);
  return { registered: described, ownership };
}

const sameMark = (a: ConvergedMark | undefined, b: ConvergedMark) =>
  a?.digest === b.digest && a.describedAt === b.describedAt && a.othersRegistered === b.othersRegistered;
