// The tracker's shortcut for a settled answer (the answer is the stored list, nothing missed, held or
// failing) must agree with the full step on every input: checked on generated states and answers.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Observation } from "../../functions/dns/resolve.ts";
import { addressesOf, fullTrack, recordStateOf, track, type KeyedRecordState, type RecordState, type TrackerPolicy } from "../../functions/dns/tracker.ts";

const policy: TrackerPolicy = { removeAfterMisses: 3, maxShrinkRatio: 0.5, missIntervalMs: 30_000, minTtlMs: 30_000, maxTtlMs: 3_600_000 };
const address = fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "fd00::1");
const addressState = fc.oneof(
  fc.constant({ missed: 0 }),
  fc.record({ missed: fc.integer({ min: 0, max: 4 }), lastMissAt: fc.integer({ min: 0, max: 200_000 }) }),
);
// Generated in the keyed shape (every address with its misses) and read as the store reads it.
const recordState: fc.Arbitrary<RecordState> = fc.record({
  addresses: fc.dictionary(address, addressState, { maxKeys: 5 }),
  heldAnnounced: fc.option(fc.uniqueArray(address, { maxLength: 3 }), { nil: undefined }),
  failingSince: fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined }),
}).map((s) => recordStateOf(JSON.parse(JSON.stringify(s)) as KeyedRecordState)); // as stored: no undefined members
const observation: fc.Arbitrary<Observation> = fc.oneof(
  fc.record({ kind: fc.constant("answer" as const), addresses: fc.array(address, { maxLength: 6 }), ttlSeconds: fc.integer({ min: 0, max: 7200 }) }),
  fc.constant({ kind: "nxdomain" as const }),
  fc.constant({ kind: "failure" as const, reason: "timeout" as const, detail: "ETIMEOUT" }),
);
// Any state answered with exactly its own addresses (shuffled, sometimes one repeated), and settled states:
// the inputs closest to the shortcut's edge.
const ownAnswer = (state: RecordState) => {
  const list = addressesOf(state);
  return fc.tuple(fc.shuffledSubarray(list, { minLength: list.length }), fc.boolean()).map(([addresses, repeat]): [RecordState, Observation] =>
    [state, { kind: "answer", addresses: repeat && addresses.length > 1 ? [...addresses.slice(1), addresses[1]!] : addresses, ttlSeconds: 60 }]);
};
const answeredWithItsOwn = recordState.chain(ownAnswer);
const settled = fc.uniqueArray(address, { minLength: 1, maxLength: 5 })
  .map((list): RecordState => ({ addressList: [...list].sort().join(",") }))
  .chain(ownAnswer);

describe("tracker shortcut", () => {
  it("agrees with the full step on any state and observation", () => {
    fc.assert(fc.property(fc.oneof(fc.tuple(recordState, observation), answeredWithItsOwn, settled), fc.integer({ min: 0, max: 400_000 }), ([state, seen], now) => {
      expect(track(state, seen, policy, now)).toEqual(fullTrack(state, seen, policy, now));
    }), { numRuns: 3_000 });
  });

  it("is taken for a settled answer: the state it returns is the stored one, unchanged", () => {
    const state: RecordState = { addressList: "10.0.0.1,10.0.0.2" };
    const step = track(state, { kind: "answer", addresses: ["10.0.0.2", "10.0.0.1"], ttlSeconds: 60 }, policy, 0);
    expect(step.state).toBe(state);
    expect(step).toMatchObject({ changed: false, targets: ["10.0.0.1", "10.0.0.2"], nextLookupInMs: 60_000 });
    // A miss on record is not settled: the full step clears it (a change, and a write).
    const missed: RecordState = { ...state, misses: { "10.0.0.2": { missed: 1, lastMissAt: 5 } } };
    expect(track(missed, { kind: "answer", addresses: ["10.0.0.1", "10.0.0.2"], ttlSeconds: 60 }, policy, 0).changed).toBe(true);
  });
});
