// The state table: DNS record state and target-group ownership, each item carrying a version that every
// write must name (conditional writes), so two concurrent runs can never lose an update.
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import {
  NO_OWNERSHIP, type DnsStateStore, type GroupOwnership, type LeaseRequest, type LeaseStore, type OwnershipStore, type Versioned,
} from "../dns/ports.ts";
import { mapLimit } from "../plan/concurrency.ts";
import { batches, type ConvergedMark } from "../plan/target-groups.ts";
import { recordStateOf, type KeyedRecordState, type RecordState } from "../dns/tracker.ts";
import { EMPTY_ROLLOUT_STATE, type RolloutState, type RolloutStateStore } from "../rollout/ports.ts";

/**
 * BatchGetItem reads at most 100 items (and 16 MB) per call and may return any part of them as
 * UnprocessedKeys, to be asked again with backoff
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
 */
export const BATCH_GET_LIMIT = 100;
/** Batches read side by side: a run's reads take ⌈items / 1,600⌉ round trips, not ⌈items / 100⌉. */
export const BATCH_GETS_IN_FLIGHT = 16;
const UNPROCESSED_RETRIES = 8;

export const dnsKey = (id: string) => ({ pk: `dns#${id}`, sk: "state" });
export const ownershipKey = (arn: string) => ({ pk: `owner#${arn}`, sk: "targets" });

async function putVersioned(client: DynamoDBDocumentClient, table: string, item: Record<string, unknown>, expectedVersion: number): Promise<boolean> {
  try {
    await client.send(new PutCommand({
      TableName: table,
      Item: { ...item, version: expectedVersion + 1 },
      ...versionCondition(expectedVersion),
    }));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Reads every key (consistently), 100 per call and several calls at once; each item found goes to onItem.
 * Callers pass distinct keys (BatchGetItem refuses a request that names one key twice).
 */
export async function batchGetItems(
  client: DynamoDBDocumentClient,
  table: string,
  keys: ReadonlyArray<Record<string, unknown>>,
  onItem: (item: Record<string, unknown>) => void,
): Promise<void> {
  await mapLimit(batches(keys, BATCH_GET_LIMIT), BATCH_GETS_IN_FLIGHT, async (batch) => {
    let pending: ReadonlyArray<Record<string, unknown>> = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > UNPROCESSED_RETRIES) throw new Error(`DynamoDB kept returning ${pending.length} unprocessed keys of table ${table}`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
      const response = await client.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: [...pending], ConsistentRead: true } } }));
      for (const item of response.Responses?.[table] ?? []) onItem(item);
      pending = (response.UnprocessedKeys?.[table]?.Keys ?? []) as Array<Record<string, unknown>>;
    }
  });
}

export function dnsStateStore(client: DynamoDBDocumentClient, table: string): DnsStateStore {
  return {
    async load(ids) {
      const result = new Map<string, Versioned<RecordState>>();
      await batchGetItems(client, table, [...new Set(ids)].map(dnsKey), (item) => {
        // Items written before the list became one string are read as the equal compact state.
        result.set(String(item.pk).slice("dns#".length), { value: recordStateOf(item.state as RecordState | KeyedRecordState), version: Number(item.version) });
      });
      return result;
    },
    save: (id, state, expectedVersion) => putVersioned(client, table, { ...dnsKey(id), state }, expectedVersion),
  };
}

const ownershipOf = (item: Record<string, unknown>): Versioned<GroupOwnership> => ({
  value: { targets: (item.targets as string[]) ?? [], ...(item.converged ? { converged: item.converged as ConvergedMark } : {}) },
  version: Number(item.version),
});

export function ownershipStore(client: DynamoDBDocumentClient, table: string): OwnershipStore {
  return {
    async load(arn) {
      const { Item } = await client.send(new GetCommand({ TableName: table, Key: ownershipKey(arn), ConsistentRead: true }));
      return Item ? ownershipOf(Item) : NO_OWNERSHIP;
    },
    async loadMany(arns) {
      const result = new Map<string, Versioned<GroupOwnership>>();
      await batchGetItems(client, table, [...new Set(arns)].map(ownershipKey), (item) => result.set(String(item.pk).slice("owner#".length), ownershipOf(item)));
      return result;
    },
    save: (arn, ownership, expectedVersion) => putVersioned(client, table, ownershipItem(arn, ownership), expectedVersion),
    async leaseAndClaim(arn, lease, expectedVersion, claim) {
      // One TransactWriteItems: the lease item as leaseStore writes it, and a check (or a versioned put) of the
      // ownership item. Cancellation reasons come in the order of the items
      // (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
      const version = versionCondition(expectedVersion);
      const ownership = claim
        ? { Put: { TableName: table, Item: { ...ownershipItem(arn, claim), version: expectedVersion + 1 }, ...version } }
        : { ConditionCheck: { TableName: table, Key: ownershipKey(arn), ...version } };
      try {
        await client.send(new TransactWriteCommand({ TransactItems: [{ Put: { TableName: table, ...leasePut(arn, lease) } }, ownership] }));
        return "leased";
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = (error.CancellationReasons ?? []).map((reason) => reason.Code);
        // A conflict with another transaction on these items is another run taking this group's lease.
        if (reasons[0] === "ConditionalCheckFailed" || reasons.includes("TransactionConflict")) return "busy";
        if (reasons[1] === "ConditionalCheckFailed") return "changed";
        throw error; // throttling, capacity, validation: not an answer about the group
      }
    },
  };
}

const ownershipItem = (arn: string, ownership: GroupOwnership) => ({
  ...ownershipKey(arn), targets: [...ownership.targets], ...(ownership.converged ? { converged: { ...ownership.converged } } : {}),
});

/** The condition every versioned write names: the item is at `expectedVersion` (0: there is no item yet). */
const versionCondition = (expectedVersion: number) => ({
  ConditionExpression: expectedVersion === 0 ? "attribute_not_exists(pk)" : "version = :expected",
  ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ":expected": expectedVersion } }),
});

export const rolloutKey = (key: string) => ({ pk: `rollout#${key}`, sk: "state" });

export function rolloutStateStore(client: DynamoDBDocumentClient, table: string): RolloutStateStore {
  return {
    async load(key) {
      const { Item } = await client.send(new GetCommand({ TableName: table, Key: rolloutKey(key), ConsistentRead: true }));
      return Item ? { value: Item.state as RolloutState, version: Number(Item.version) } : { value: EMPTY_ROLLOUT_STATE, version: 0 };
    },
    save: (key, state, expectedVersion) => putVersioned(client, table, { ...rolloutKey(key), state }, expectedVersion),
  };
}

export const leaseKey = (resource: string) => ({ pk: `lease#${resource}`, sk: "lease" });

/** The lease item and the condition that takes it: free, expired, or already this holder's. */
const leasePut = (resource: string, { holder, now, ttlMs }: LeaseRequest) => ({
  Item: { ...leaseKey(resource), holder, leaseUntil: now + ttlMs, expiresAt: Math.ceil((now + ttlMs) / 1000) + 3600 },
  ConditionExpression: "attribute_not_exists(pk) OR leaseUntil < :now OR holder = :holder",
  ExpressionAttributeValues: { ":now": now, ":holder": holder },
});

/** Leases expire by themselves (expiresAt, also the table's TTL attribute in seconds) if a holder dies. */
export function leaseStore(client: DynamoDBDocumentClient, table: string): LeaseStore {
  return {
    async acquire(resource, holder, now, ttlMs) {
      try {
        await client.send(new PutCommand({ TableName: table, ...leasePut(resource, { holder, now, ttlMs }) }));
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },
    async release(resource, holder) {
      try {
        await client.send(new DeleteCommand({
          TableName: table, Key: leaseKey(resource), ConditionExpression: "holder = :holder", ExpressionAttributeValues: { ":holder": holder },
        }));
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    },
  };
}
