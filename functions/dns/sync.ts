// One run of the DNS loop: look up what is due, update each name's target list, then converge the
// runtime target documents and NLB target groups with the result. Level-triggered: the request only
// says which names to look at now; every target is recomputed from state and compared with reality.
import { createHash } from "node:crypto";
import { durationMs } from "../fleet/duration.ts";
import { loadFleet, type FleetModel } from "../fleet/load.ts";
import { MemoryTree } from "../fleet/tree.ts";
import { planDocuments, runtimeDocuments, type DocumentWrite } from "../plan/documents.ts";
import { batches, planTargetGroup, type TargetGroupPlan } from "../plan/target-groups.ts";
import { recordId, recordsAffectedBy, recordsInFleet } from "./names.ts";
import type {
  AcceptedConfigSource, AcceptedSnapshot, DnsStateStore, DocumentStore, LeaseStore, LookupSchedule, OwnershipStore, TargetGroupApi, Versioned,
} from "./ports.ts";
import type { DnsClient, Observation } from "./resolve.ts";
import { EMPTY_RECORD, track, type RecordState, type Step, type TrackerPolicy } from "./tracker.ts";
import { zoneAwareClient, type Source, type SourcedDnsClient, type ZonePort } from "./zone.ts";
import { mapLimit } from "../plan/concurrency.ts";

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
  readonly concurrency?: number;
  /** Names this run as a lease holder. */
  readonly runId?: string;
}

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
  const snapshot = await ports.config.load();
  if (!snapshot) return emptyReport({ skipped: "no accepted config yet" });
  const model = await acceptedModel(snapshot);
  if (!model) return emptyReport({ commit: snapshot.commit, skipped: "the accepted config no longer validates" });
  const policy = trackerPolicy(model);

  const records = recordsInFleet(model);
  const due = request.scope === "names"
    ? records.filter((r) => recordsAffectedBy([r, ...ports.schedule.via(recordId(r)).map((name) => ({ name, family: r.family }))], request.names).length > 0)
    : records.filter((r) => ports.schedule.dueAt(recordId(r)) <= options.now);
  // The stored state and the lookups are independent: read them side by side.
  const [states, sourced] = await Promise.all([
    ports.state.load(records.map(recordId)),
    sourcedClient(ports, model).then((client) => mapLimit(due, options.concurrency ?? 32, (r) => client.lookup(r.name, r.family))),
  ]);
  const looked: RecordReport[] = [];
  let stateConflicts = 0;
  for (const [i, record] of due.entries()) {
    const id = recordId(record);
    const { observation, source, zone, why, via } = sourced[i]!;
    const result = await trackAndSave(id, observation, states, ports.state, policy, options);
    stateConflicts += result.conflicts;
    ports.schedule.set(id, options.now + result.step.nextLookupInMs);
    if (observation.kind !== "failure") ports.schedule.setVia(id, via ?? []);
    looked.push({
      record: id,
      observation: observation.kind,
      source,
      ...(zone ? { zone } : {}),
      ...(why ? { why } : {}),
      answer: observation.kind === "answer" ? observation.addresses : [],
      ...(observation.kind === "failure" ? { failure: `${observation.reason}: ${observation.detail}` } : {}),
      added: result.step.added,
      removed: result.step.removed,
      held: result.step.held,
      announced: result.step.announce && !options.dryRun && ports.announceHeld !== undefined,
      failingForMs: result.step.failingForMs,
    });
  }
  const announcements = looked.filter((r) => r.announced).map((r) => ({ record: r.record, held: r.held }));
  if (announcements.length > 0) {
    await ports.announceHeld!(snapshot.commit, announcements);
    for (const a of announcements) stateConflicts += await recordAnnounced(a.record, a.held, states, ports.state);
  }

  const addressesOf = (family: 4 | 6) => (name: string) => Object.keys(states.get(recordId({ name, family }))?.value.addresses ?? {});
  // Runtime documents and target groups do not depend on each other: a change reaches both at once.
  const [documents, targetGroups] = await Promise.all([
    convergeDocuments(model, addressesOf(4), ports.documents, options),
    (async () => {
      const plans: TargetGroupPlan[] = [];
      for (const group of model.targetGroups) plans.push(await convergeTargetGroup(group, addressesOf(group.ipAddressType === "ipv6" ? 6 : 4), ports, options));
      return plans;
    })(),
  ]);
  return { commit: snapshot.commit, looked, documents, targetGroups, stateConflicts };
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
  const stored = new Map(await Promise.all(documents.map(async (d) => [d.service, await store.storedHash(d.service)] as const)));
  const writes = planDocuments(documents, stored);
  if (!options.dryRun) for (const write of writes) await store.put(write.service, write.body, write.hash);
  return writes;
}

/**
 * Plans without writing; only when there is something to change does the run take the group's lease (one
 * writer per group), re-plan under it and apply. Ownership is recorded before registering and released
 * after deregistering, so a crash in between leaves at worst an owned entry for a missing target, which a
 * later run forgets. A group whose lease another run holds is left to that run.
 */
async function convergeTargetGroup(
  group: FleetModel["targetGroups"][number],
  addressesOf: (name: string) => readonly string[],
  ports: SyncPorts,
  options: SyncOptions,
): Promise<TargetGroupPlan> {
  const plan = async () => {
    const [registered, ownership] = await Promise.all([ports.targetGroups.describe(group.arn), ports.ownership.load(group.arn)]);
    return { ownership, plan: planTargetGroup(group, addressesOf, { registered, owned: ownership.value }) };
  };
  const first = await plan();
  const current = [...first.ownership.value].sort();
  const inSync = first.plan.register.length === 0 && first.plan.deregister.length === 0 && first.plan.owned.join() === current.join();
  if (options.dryRun || inSync) return first.plan;

  const holder = options.runId ?? `run-${options.now}-${Math.random().toString(36).slice(2)}`;
  if (!(await ports.leases.acquire(group.arn, holder, options.now, LEASE_MS))) return { ...first.plan, register: [], deregister: [], busy: true };
  try {
    const { ownership, plan: locked } = await plan();
    const owned = [...ownership.value].sort();
    const claimed = [...new Set([...owned, ...locked.owned])].sort();
    let version = ownership.version;
    if (claimed.join() !== owned.join()) {
      if (!(await ports.ownership.save(group.arn, claimed, version))) throw new Error(`ownership of ${group.arn} changed under its lease`);
      version++;
    }
    const batchSize = options.batchSize ?? 100;
    for (const batch of batches(locked.register, batchSize)) await ports.targetGroups.register(group.arn, batch, locked.availabilityZone);
    for (const batch of batches(locked.deregister, batchSize)) await ports.targetGroups.deregister(group.arn, batch);
    if (claimed.join() !== locked.owned.join()) await ports.ownership.save(group.arn, locked.owned, version);
    return locked;
  } finally {
    await ports.leases.release(group.arn, holder);
  }
}
