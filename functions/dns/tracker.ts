// What one lookup does to a name's target list. Pure: (previous state, observation, policy, now) → next.
//
//   observation        addresses in the answer     addresses missing from it      list
//   -----------        -----------------------     -------------------------      ----
//   answer             kept / added, misses reset  one more miss; removed at N    changes
//   nxdomain, nodata   —                           one more miss each             shrinks only by hysteresis
//   failure            —                           untouched                      last known good (the streak's
//                                                                                    start is kept: failingSince)
//
// A removal that would take more than maxShrinkRatio of the list at once is held (and reported) instead.
// A held removal is announced once: the state remembers the held set last announced, so a run that holds
// the same set again changes nothing (no write, no event); a different held set is announced anew.
import { isDeepStrictEqual } from "node:util";
import type { Observation } from "./resolve.ts";

export interface AddressState {
  /** Consecutive lookups without this address. */
  readonly missed: number;
  /** When the last miss was counted (epoch ms): concurrent runs count one miss, not two. */
  readonly lastMissAt?: number;
}

/**
 * A record's state, as kept in memory and as stored. The list is one string, not an object keyed by address:
 * 100,000 records are read every run, and a string per record parses and collects far cheaper than an object
 * per address. Only the addresses with a miss on record have an entry in misses (absent: none on record).
 */
export interface RecordState {
  /** The addresses in use, sorted, comma-joined ("" for none). */
  readonly addressList: string;
  readonly misses?: Readonly<Record<string, AddressState>>;
  /** The held removal last announced ("DNS Removal Held"), while it stays held. */
  readonly heldAnnounced?: readonly string[];
  /** When the lookups of this name started failing (epoch ms), while they keep failing. */
  readonly failingSince?: number;
}

/** The shape items were stored in before the list became one string: every address keyed, misses or none. */
export interface KeyedRecordState {
  readonly addresses: Readonly<Record<string, AddressState>>;
  readonly heldAnnounced?: readonly string[];
  readonly failingSince?: number;
}

/**
 * A stored state in either shape, as a RecordState. An item in the keyed shape is read as the equal compact
 * state, so a run that changes nothing still writes nothing; it is stored compact the next time it changes.
 */
export function recordStateOf(stored: RecordState | KeyedRecordState): RecordState {
  if (!("addresses" in stored)) return stored;
  const addresses = Object.keys(stored.addresses).sort();
  const misses: Record<string, AddressState> = {};
  for (const address of addresses) if (hasMiss(stored.addresses[address]!)) misses[address] = stored.addresses[address]!;
  return {
    addressList: addresses.join(","),
    ...(Object.keys(misses).length > 0 ? { misses } : {}),
    ...(stored.heldAnnounced === undefined ? {} : { heldAnnounced: stored.heldAnnounced }),
    ...(stored.failingSince === undefined ? {} : { failingSince: stored.failingSince }),
  };
}

/** The addresses of a state, sorted. */
export const addressesOf = (state: RecordState): string[] => (state.addressList === "" ? [] : state.addressList.split(","));

const NO_MISS: AddressState = { missed: 0 };
const hasMiss = (state: AddressState) => state.missed !== 0 || state.lastMissAt !== undefined;

/** A name whose lookups have failed this long (and still fail) is reported as failing long: operators are paged. */
export const NAME_FAILING_LONG_MS = 10 * 60_000;

export interface TrackerPolicy {
  readonly removeAfterMisses: number;
  /** 0..1: the largest share of a list one run may remove. */
  readonly maxShrinkRatio: number;
  /** Misses closer together than this count once. */
  readonly missIntervalMs: number;
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
}

export interface Step {
  readonly state: RecordState;
  readonly changed: boolean;
  /** The addresses the data planes should use now, sorted. */
  readonly targets: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Removals the shrink guard held back this time. */
  readonly held: readonly string[];
  /** The held set is new (or differs from the one announced): announce it, then record it in heldAnnounced. */
  readonly announce: boolean;
  /** True when the lookup failed and the last known good list was kept. */
  readonly keptLastKnownGood: boolean;
  /** How long the name's lookups have failed without a break (0 after an answer). */
  readonly failingForMs: number;
  /** When to look again. */
  readonly nextLookupInMs: number;
}

export const EMPTY_RECORD: RecordState = { addressList: "" };

export function track(previous: RecordState | undefined, observation: Observation, policy: TrackerPolicy, now: number): Step {
  const before = previous ?? EMPTY_RECORD;
  // The common case, and the one a large fleet meets 100,000 times a run: the answer is the list as it
  // stands, with nothing missed, held or failing. Nothing changes; decided without building a new state.
  const settled = observation.kind === "answer" ? settledList(before, observation.addresses) : undefined;
  if (settled !== undefined) {
    return {
      state: before, changed: false, targets: settled, added: [], removed: [], held: [], announce: false,
      keptLastKnownGood: false, failingForMs: 0, nextLookupInMs: nextLookupInMs(observation, policy),
    };
  }
  return fullTrack(before, observation, policy, now);
}

const nextLookupInMs = (observation: Observation, policy: TrackerPolicy) =>
  Math.min(policy.maxTtlMs, Math.max(policy.minTtlMs, observation.kind === "answer" ? observation.ttlSeconds * 1000 : policy.minTtlMs));

/** The step worked out in full (track without its shortcut for a settled answer, which must agree with it). */
export function fullTrack(previous: RecordState | undefined, observation: Observation, policy: TrackerPolicy, now: number): Step {
  const before = previous ?? EMPTY_RECORD;
  const current = addressesOf(before);

  if (observation.kind === "failure") {
    // The first failure of a streak is recorded (one write); later ones change nothing.
    const state = before.failingSince === undefined ? { ...before, failingSince: now } : before;
    return {
      state, changed: state !== before, targets: current, added: [], removed: [], held: [], announce: false, keptLastKnownGood: true,
      failingForMs: now - state.failingSince!, nextLookupInMs: policy.minTtlMs,
    };
  }

  const seen = new Set(observation.kind === "answer" ? observation.addresses : []);
  const stored = new Set(current);
  const storedMisses = before.misses ?? {};
  // Every address the list keeps, with its misses (NO_MISS for an address in the answer).
  const next = new Map<string, AddressState>();
  const added: string[] = [];
  const due: string[] = [];
  for (const address of seen) {
    next.set(address, NO_MISS);
    if (!stored.has(address)) added.push(address);
  }
  for (const address of current) {
    if (seen.has(address)) continue;
    const state = storedMisses[address] ?? NO_MISS;
    // Already due (and so held): counting further misses would change nothing but the stored state.
    if (state.missed >= policy.removeAfterMisses) {
      next.set(address, state);
      due.push(address);
      continue;
    }
    const counts = state.lastMissAt === undefined || now - state.lastMissAt >= policy.missIntervalMs;
    const missed = counts ? state.missed + 1 : state.missed;
    next.set(address, counts ? { missed, lastMissAt: now } : state);
    if (missed >= policy.removeAfterMisses) due.push(address);
  }

  // The guard compares against the list as it stands, so replacing every address at once (new ones
  // arriving as old ones age out) is allowed while a sudden collapse is not.
  const listSize = next.size;
  const held = due.length > 0 && due.length / listSize > policy.maxShrinkRatio ? due : [];
  const removed = held.length > 0 ? [] : due;
  for (const address of removed) next.delete(address);

  held.sort();
  const targets = [...next.keys()].sort();
  const misses: Record<string, AddressState> = {};
  let anyMiss = false;
  for (const address of targets) {
    const state = next.get(address)!;
    if (hasMiss(state)) {
      misses[address] = state;
      anyMiss = true;
    }
  }
  // What was announced stays recorded while something is held; the announcement itself is recorded by the caller.
  const state: RecordState = {
    addressList: targets.join(","),
    ...(anyMiss ? { misses } : {}),
    ...(held.length > 0 && before.heldAnnounced ? { heldAnnounced: before.heldAnnounced } : {}),
  };
  return {
    state,
    changed: !isDeepStrictEqual(state, before),
    targets,
    added: added.sort(),
    removed: removed.sort(),
    held,
    announce: held.length > 0 && held.join() !== (before.heldAnnounced ?? []).join(),
    keptLastKnownGood: false,
    failingForMs: 0,
    nextLookupInMs: nextLookupInMs(observation, policy),
  };
}

/**
 * The answer sorted, when it holds exactly the addresses stored, none with a miss on record, and the record
 * holds nothing else (no hold announced, no failing streak): the full step would produce an equal state.
 * Otherwise undefined. One sort of a handful of addresses and one string comparison: it runs once per name
 * per run. The list is stored without repeats, so an answer with one repeated never matches it.
 */
function settledList(before: RecordState, answer: readonly string[]): string[] | undefined {
  if (answer.length === 0 || before.failingSince !== undefined || before.heldAnnounced !== undefined) return undefined;
  if (before.misses !== undefined) for (const _ in before.misses) return undefined;
  const sorted = [...answer].sort();
  return sorted.join(",") === before.addressList ? sorted : undefined;
}
