// A record's stored state is compact (the list as one string, misses only for the addresses that have them);
// items written in the keyed shape (every address an object with its misses) still load, as the equal compact
// state: a run that changes nothing writes nothing, and an item is rewritten compact only when it changes.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { dnsStateStore } from "../../functions/aws/state-table.ts";
import type { Observation } from "../../functions/dns/resolve.ts";
import { addressesOf, recordStateOf, track, type KeyedRecordState, type RecordState, type TrackerPolicy } from "../../functions/dns/tracker.ts";

const policy: TrackerPolicy = { removeAfterMisses: 3, maxShrinkRatio: 0.5, missIntervalMs: 30_000, minTtlMs: 30_000, maxTtlMs: 3_600_000 };
const address = fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10", "fd00::1");
const addressState = fc.oneof(
  fc.constant({ missed: 0 }),
  fc.record({ missed: fc.integer({ min: 1, max: 4 }), lastMissAt: fc.integer({ min: 0, max: 200_000 }) }),
);
const keyed: fc.Arbitrary<KeyedRecordState> = fc.record({
  addresses: fc.dictionary(address, addressState, { maxKeys: 5 }),
  heldAnnounced: fc.option(fc.uniqueArray(address, { maxLength: 3 }), { nil: undefined }),
  failingSince: fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined }),
}).map((s) => JSON.parse(JSON.stringify(s)) as KeyedRecordState);
const observation: fc.Arbitrary<Observation> = fc.oneof(
  fc.record({ kind: fc.constant("answer" as const), addresses: fc.array(address, { maxLength: 6 }), ttlSeconds: fc.constant(60) }),
  fc.constant({ kind: "nxdomain" as const }),
  fc.constant({ kind: "failure" as const, reason: "timeout" as const, detail: "ETIMEOUT" }),
);
const stored = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe("record state shapes", () => {
  it("reads a keyed item as the same list, misses, hold and failing streak", () => {
    fc.assert(fc.property(keyed, (old) => {
      const state = recordStateOf(old);
      expect(addressesOf(state)).toEqual(Object.keys(old.addresses).sort());
      for (const [a, misses] of Object.entries(old.addresses)) expect(state.misses?.[a] ?? { missed: 0 }).toEqual(misses);
      expect(Object.keys(state.misses ?? {}).every((a) => old.addresses[a]!.missed > 0)).toBe(true);
      expect(state.heldAnnounced).toEqual(old.heldAnnounced);
      expect(state.failingSince).toEqual(old.failingSince);
      expect(state).not.toHaveProperty("addresses");
    }), { numRuns: 1_000 });
  });

  it("stores what the tracker makes and reads it back equal, whichever shape it started from", () => {
    fc.assert(fc.property(keyed, fc.array(observation, { minLength: 1, maxLength: 6 }), (old, seen) => {
      let state = recordStateOf(old);
      for (const [i, o] of seen.entries()) {
        state = track(state, o, policy, 40_000 * (i + 1)).state;
        expect(recordStateOf(stored(state))).toEqual(state);
        expect(state).not.toHaveProperty("addresses");
      }
    }), { numRuns: 1_000 });
  });

  it("changes nothing for a keyed item whose lookup changes nothing: no write until it changes anyway", () => {
    fc.assert(fc.property(fc.uniqueArray(address, { minLength: 1, maxLength: 5 }), fc.boolean(), (list, failing) => {
      const old: KeyedRecordState = {
        addresses: Object.fromEntries(list.map((a) => [a, { missed: 0 }])), ...(failing ? { failingSince: 1_000 } : {}),
      };
      const state = recordStateOf(stored(old));
      const same: Observation = failing ? { kind: "failure", reason: "timeout", detail: "ETIMEOUT" } : { kind: "answer", addresses: [...list].reverse(), ttlSeconds: 60 };
      expect(track(state, same, policy, 50_000).changed).toBe(false);
    }), { numRuns: 500 });
    // A miss inside the interval counts once, on a keyed item too: nothing to write.
    const missed = recordStateOf({ addresses: { "10.0.0.1": { missed: 0 }, "10.0.0.2": { missed: 1, lastMissAt: 40_000 } } });
    expect(track(missed, { kind: "answer", addresses: ["10.0.0.1"], ttlSeconds: 60 }, policy, 50_000).changed).toBe(false);
    // Its next counted miss is written in the compact shape.
    expect(track(missed, { kind: "answer", addresses: ["10.0.0.1"], ttlSeconds: 60 }, policy, 70_000)).toMatchObject({
      changed: true, state: { addressList: "10.0.0.1,10.0.0.2", misses: { "10.0.0.2": { missed: 2, lastMissAt: 70_000 } } },
    });
  });
});

describe("state table", () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1", credentials: { accessKeyId: "t", secretAccessKey: "t" } }));
  afterEach(() => dynamo.reset());

  it("loads items of both shapes and writes the compact one", async () => {
    const keyedItem: KeyedRecordState = { addresses: { "10.0.0.2": { missed: 2, lastMissAt: 5 }, "10.0.0.1": { missed: 0 } }, heldAnnounced: ["10.0.0.2"] };
    const compact: RecordState = { addressList: "10.0.0.3" };
    dynamo.on(BatchGetCommand).resolves({ Responses: { state: [
      { pk: "dns#old/A", sk: "state", version: 4, state: keyedItem },
      { pk: "dns#new/A", sk: "state", version: 2, state: compact },
    ] } });
    dynamo.on(PutCommand).resolves({});
    const store = dnsStateStore(client, "state");
    const states = await store.load(["old/A", "new/A"]);
    expect(states.get("old/A")).toEqual({
      value: { addressList: "10.0.0.1,10.0.0.2", misses: { "10.0.0.2": { missed: 2, lastMissAt: 5 } }, heldAnnounced: ["10.0.0.2"] }, version: 4,
    });
    expect(states.get("new/A")).toEqual({ value: compact, version: 2 });
    expect(await store.save("old/A", states.get("old/A")!.value, 4)).toBe(true);
    expect(dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item).toEqual({
      pk: "dns#old/A", sk: "state", version: 5,
      state: { addressList: "10.0.0.1,10.0.0.2", misses: { "10.0.0.2": { missed: 2, lastMissAt: 5 } }, heldAnnounced: ["10.0.0.2"] },
    });
  });
});
