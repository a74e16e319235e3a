// The state table adapter's batched reads through the real DynamoDB document client (aws-sdk-client-mock):
// BatchGetItem takes at most 100 keys per call and may hand back any of them as UnprocessedKeys, which are
// asked again (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
import { DynamoDBClient, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BATCH_GET_LIMIT, BATCH_GETS_IN_FLIGHT, dnsStateStore, ownershipStore } from "../../functions/aws/state-table.ts";

const dynamo = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1", credentials: { accessKeyId: "t", secretAccessKey: "t" } }));
afterEach(() => dynamo.reset());

type Key = { pk: string; sk: string };
const keysOf = (input: unknown) => (input as { RequestItems: Record<string, { Keys: Key[]; ConsistentRead: boolean }> }).RequestItems.state!;

describe("batched reads", () => {
  it("reads 1,050 records in calls of at most 100 keys, consistently, several at once, and retries unprocessed keys", async () => {
    let inFlight = 0;
    let mostInFlight = 0;
    let unprocessedOnce = true;
    dynamo.on(BatchGetCommand).callsFake(async (input) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      const { Keys, ConsistentRead } = keysOf(input);
      expect(Keys.length).toBeLessThanOrEqual(BATCH_GET_LIMIT);
      expect(ConsistentRead).toBe(true);
      // The first call answers half of its keys and hands back the rest as unprocessed.
      const answered = unprocessedOnce ? Keys.slice(0, Keys.length / 2) : Keys;
      const unprocessed = unprocessedOnce ? Keys.slice(Keys.length / 2) : [];
      unprocessedOnce = false;
      return {
        Responses: { state: answered.map((k) => ({ ...k, version: 1, state: { addressList: k.pk.slice(4, -2) } })) },
        UnprocessedKeys: unprocessed.length > 0 ? { state: { Keys: unprocessed } } : {},
      };
    });
    const ids = Array.from({ length: 1_050 }, (_, i) => `10.0.${i >> 8}.${i & 255}/A`);
    const states = await dnsStateStore(client, "state").load(ids);
    expect(states.size).toBe(1_050);
    expect(states.get("10.0.4.25/A")).toEqual({ value: { addressList: "10.0.4.25" }, version: 1 });
    const calls = dynamo.commandCalls(BatchGetCommand).map((c) => keysOf(c.args[0].input).Keys.length);
    expect(calls.slice(0, 11).sort((a, b) => a - b)).toEqual([50, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100]);
    expect(calls).toHaveLength(12); // 11 batches + the unprocessed half asked again
    expect(calls.reduce((a, b) => a + b)).toBe(1_050 + 50);
    expect(mostInFlight).toBeGreaterThan(1);
    expect(mostInFlight).toBeLessThanOrEqual(BATCH_GETS_IN_FLIGHT);
  });

  it("stops with the table named when keys stay unprocessed", async () => {
    dynamo.on(BatchGetCommand).callsFake(async (input) => ({ Responses: { state: [] }, UnprocessedKeys: { state: { Keys: keysOf(input).Keys } } }));
    vi.useFakeTimers(); // the backoff between attempts, without waiting for it
    try {
      const loading = dnsStateStore(client, "state").load(["a/A"]);
      const failed = expect(loading).rejects.toThrow(/unprocessed keys of table state/);
      await vi.runAllTimersAsync();
      await failed;
      expect(dynamo.commandCalls(BatchGetCommand)).toHaveLength(9);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reads the target groups' ownership and converged marks in one batch, and writes the mark with the owned targets", async () => {
    dynamo.on(BatchGetCommand).callsFake(async (input) => ({
      Responses: { state: keysOf(input).Keys.slice(0, 1).map((k) => ({ ...k, version: 3, targets: ["10.0.0.1:443"], converged: { digest: "d1", at: 5 } })) },
    }));
    dynamo.on(PutCommand).resolves({});
    const store = ownershipStore(client, "state");
    const owned = await store.loadMany(["arn:a", "arn:b"]);
    expect([...owned]).toEqual([["arn:a", { value: { targets: ["10.0.0.1:443"], converged: { digest: "d1", at: 5 } }, version: 3 }]]);
    expect(dynamo.commandCalls(BatchGetCommand)).toHaveLength(1);
    await store.save("arn:a", { targets: ["10.0.0.2:443"], converged: { digest: "d2", at: 9 } }, 3);
    expect(dynamo.commandCalls(PutCommand)[0]!.args[0].input).toEqual({
      TableName: "state",
      Item: { pk: "owner#arn:a", sk: "targets", targets: ["10.0.0.2:443"], converged: { digest: "d2", at: 9 }, version: 4 },
      ConditionExpression: "version = :expected",
      ExpressionAttributeValues: { ":expected": 3 },
    });
  });
});

describe("a group's lease and claim in one transaction", () => {
  const ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/onprem-db/0123456789abcdef";
  const lease = { holder: "run-1", now: 1_000_000, ttlMs: 30_000 };
  const leaseItem = {
    TableName: "state",
    Item: { pk: `lease#${ARN}`, sk: "lease", holder: "run-1", leaseUntil: 1_030_000, expiresAt: 1_030 + 3_600 },
    ConditionExpression: "attribute_not_exists(pk) OR leaseUntil < :now OR holder = :holder",
    ExpressionAttributeValues: { ":now": 1_000_000, ":holder": "run-1" },
  };
  const cancelled = (codes: string[]) => new TransactionCanceledException({
    message: "Transaction cancelled", $metadata: {}, CancellationReasons: codes.map((Code) => ({ Code })),
  });

  it("writes the lease as the lease store does and the claim at the next version, conditional on the version read", async () => {
    dynamo.on(TransactWriteCommand).resolves({});
    const outcome = await ownershipStore(client, "state").leaseAndClaim(ARN, lease, 3, { targets: ["10.0.0.1:5432", "10.0.0.2:5432"] });
    expect(outcome).toBe("leased");
    expect(dynamo).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        { Put: leaseItem },
        {
          Put: {
            TableName: "state", Item: { pk: `owner#${ARN}`, sk: "targets", targets: ["10.0.0.1:5432", "10.0.0.2:5432"], version: 4 },
            ConditionExpression: "version = :expected", ExpressionAttributeValues: { ":expected": 3 },
          },
        },
      ],
    });
  });

  it("without a claim, checks the version only; a group with no item yet must still have none", async () => {
    dynamo.on(TransactWriteCommand).resolves({});
    await ownershipStore(client, "state").leaseAndClaim(ARN, lease, 0);
    expect(dynamo).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [{ Put: leaseItem }, { ConditionCheck: { TableName: "state", Key: { pk: `owner#${ARN}`, sk: "targets" }, ConditionExpression: "attribute_not_exists(pk)" } }],
    });
  });

  it("tells a held lease (or another run's transaction) from a moved ownership by the reasons, in the items' order; anything else is thrown", async () => {
    const store = ownershipStore(client, "state");
    const outcome = (codes: string[]) => {
      dynamo.reset();
      dynamo.on(TransactWriteCommand).rejects(cancelled(codes));
      return store.leaseAndClaim(ARN, lease, 3);
    };
    await expect(outcome(["ConditionalCheckFailed", "None"])).resolves.toBe("busy");
    await expect(outcome(["None", "ConditionalCheckFailed"])).resolves.toBe("changed");
    await expect(outcome(["ConditionalCheckFailed", "ConditionalCheckFailed"])).resolves.toBe("busy");
    await expect(outcome(["None", "TransactionConflict"])).resolves.toBe("busy"); // another run's transaction on the group
    await expect(outcome(["None", "ProvisionedThroughputExceeded"])).rejects.toThrow(TransactionCanceledException);
  });
});
