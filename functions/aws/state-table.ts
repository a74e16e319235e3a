// The state table: DNS record state and target-group ownership, each item carrying a version that every
// write must name (conditional writes), so two concurrent runs can never lose an update.
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { DnsStateStore, LeaseStore, OwnershipStore, Versioned } from "../dns/ports.ts";
import type { RecordState } from "../dns/tracker.ts";
import { EMPTY_ROLLOUT_STATE, type RolloutState, type RolloutStateStore } from "../rollout/ports.ts";

const BATCH_GET_LIMIT = 100;
const UNPROCESSED_RETRIES = 8;

export const dnsKey = (id: string) => ({ pk: `dns#${id}`, sk: "state" });
export const ownershipKey = (arn: string) => ({ pk: `owner#${arn}`, sk: "targets" });

async function putVersioned(client: DynamoDBDocumentClient, table: string, item: Record<string, unknown>, expectedVersion: number): Promise<boolean> {
  try {
    await client.send(new PutCommand({
      TableName: table,
      Item: { ...item, version: expectedVersion + 1 },
      ConditionExpression: expectedVersion === 0 ? "attribute_not_exists(pk)" : "version = :expected",
      ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ":expected": expectedVersion } }),
    }));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

export function dnsStateStore(client: DynamoDBDocumentClient, table: string): DnsStateStore {
  return {
    async load(ids) {
      const result = new Map<string, Versioned<RecordState>>();
      for (let i = 0; i < ids.length; i += BATCH_GET_LIMIT) {
        let keys: Array<Record<string, unknown>> = ids.slice(i, i + BATCH_GET_LIMIT).map(dnsKey);
        for (let attempt = 0; keys.length > 0; attempt++) {
          if (attempt > UNPROCESSED_RETRIES) throw new Error("DynamoDB kept returning unprocessed keys");
          if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
          const response = await client.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }));
          for (const item of response.Responses?.[table] ?? []) {
            result.set(String(item.pk).slice("dns#".length), { value: item.state as RecordState, version: Number(item.version) });
          }
          keys = (response.UnprocessedKeys?.[table]?.Keys ?? []) as Array<Record<string, unknown>>;
        }
      }
      return result;
    },
    save: (id, state, expectedVersion) => putVersioned(client, table, { ...dnsKey(id), state }, expectedVersion),
  };
}

export function ownershipStore(client: DynamoDBDocumentClient, table: string): OwnershipStore {
  return {
    async load(arn) {
      const { Item } = await client.send(new GetCommand({ TableName: table, Key: ownershipKey(arn), ConsistentRead: true }));
      return Item ? { value: (Item.targets as string[]) ?? [], version: Number(Item.version) } : { value: [], version: 0 };
    },
    save: (arn, owned, expectedVersion) => putVersioned(client, table, { ...ownershipKey(arn), targets: [...owned] }, expectedVersion),
  };
}

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

/** Leases expire by themselves (expiresAt, also the table's TTL attribute in seconds) if a holder dies. */
export function leaseStore(client: DynamoDBDocumentClient, table: string): LeaseStore {
  return {
    async acquire(resource, holder, now, ttlMs) {
      try {
        await client.send(new PutCommand({
          TableName: table,
          Item: { ...leaseKey(resource), holder, leaseUntil: now + ttlMs, expiresAt: Math.ceil((now + ttlMs) / 1000) + 3600 },
          ConditionExpression: "attribute_not_exists(pk) OR leaseUntil < :now OR holder = :holder",
          ExpressionAttributeValues: { ":now": now, ":holder": holder },
        }));
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
