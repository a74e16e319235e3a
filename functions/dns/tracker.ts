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

export interface RecordState {
  readonly addresses: Readonly<Record<string, AddressState>>;
  /** The held removal last announced ("DNS Removal Held"), while it stays held. */
  readonly heldAnnounced?: readonly string[];
  /** When the lookups of this name started failing (epoch ms), while they keep failing. */
  readonly failingSince?: number;
}

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

export const EMPTY_RECORD: RecordState = { addresses: {} };

export function track(previous: RecordState | undefined, observation: Observation, policy: TrackerPolicy, now: number): Step {
  const before = previous ?? EMPTY_RECORD;
  const current = Object.keys(before.addresses).sort();

  if (observation.kind === "failure") {
    // The first failure of a streak is recorded (one write); later ones change nothing.
    const state = before.failingSince === undefined ? { ...before, failingSince: now } : before;
    return {
      state, changed: state !== before, targets: current, added: [], removed: [], held: [], announce: false, keptLastKnownGood: true,
      failingForMs: now - state.failingSince!, nextLookupInMs: policy.minTtlMs,
    };
  }

  const seen = new Set(observation.kind === "answer" ? observation.addresses : []);
  const next: Record<string, AddressState> = {};
  const added: string[] = [];
  const due: string[] = [];
  for (const address of seen) {
    next[address] = { missed: 0 };
    if (!(address in before.addresses)) added.push(address);
  }
  for (const address of current) {
    if (seen.has(address)) continue;
    const state = before.addresses[address]!;
    // Already due (and so held): counting further misses would change nothing but the stored state.
    if (state.missed >= policy.removeAfterMisses) {
      next[address] = state;
      due.push(address);
      continue;
    }
    const counts = state.lastMissAt === undefined || now - state.lastMissAt >= policy.missIntervalMs;
    const missed = counts ? state.missed + 1 : state.missed;
    next[address] = counts ? { missed, lastMissAt: now } : state;
    if (missed >= policy.removeAfterMisses) due.push(address);
  }

  // The guard compares against the list as it stands, so replacing every address at once (new ones
  // arriving as old ones age out) is allowed while a sudden collapse is not.
  const listSize = Object.keys(next).length;
  const held = due.length > 0 && due.length / listSize > policy.maxShrinkRatio ? due : [];
  const removed = held.length > 0 ? [] : due;
  for (const address of removed) delete next[address];

  held.sort();
  // What was announced stays recorded while something is held; the announcement itself is recorded by the caller.
  const heldAnnounced = held.length > 0 && before.heldAnnounced ? { heldAnnounced: before.heldAnnounced } : {};
  const state: RecordState = { addresses: Object.fromEntries(Object.entries(next).sort(([a], [b]) => (a < b ? -1 : 1))), ...heldAnnounced };
  const ttlMs = observation.kind === "answer" ? observation.ttlSeconds * 1000 : policy.minTtlMs;
  return {
    state,
    changed: !isDeepStrictEqual(state, before),
    targets: Object.keys(state.addresses),
    added: added.sort(),
    removed: removed.sort(),
    held,
    announce: held.length > 0 && held.join() !== (before.heldAnnounced ?? []).join(),
    keptLastKnownGood: false,
    failingForMs: 0,
    nextLookupInMs: Math.min(policy.maxTtlMs, Math.max(policy.minTtlMs, ttlMs)),
  };
}
