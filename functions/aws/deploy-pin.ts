// What the deploy-time pin reads: the rollout loop's state item (DynamoDB) and whether a bundle is in the bucket.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { PinPorts } from "../deploy/pin.ts";
import type { RolloutState } from "../rollout/ports.ts";
import { bundleKey } from "./config-bucket.ts";
import { rolloutKey } from "./state-table.ts";
import { BOUNDED_CLIENT } from "./agent-sources.ts";

/** `stateKey` is the rollout loop's `<repository>#<branch>`. */
export function pinPorts(dynamo: DynamoDBDocumentClient, table: string, stateKey: string, s3: S3Client, bucket: string): PinPorts {
  let state: Promise<RolloutState | undefined> | undefined;
  return {
    async deployed(service) {
      state ??= dynamo.send(new GetCommand({ TableName: table, Key: rolloutKey(stateKey), ConsistentRead: true }))
        .then(({ Item }) => Item?.state as RolloutState | undefined);
      return (await state)?.services?.[service];
    },
    bundleKey,
    async bundleExists(key) {
      try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if ((error as { name?: string }).name === "NotFound" || (error as { name?: string }).name === "NoSuchKey") return false;
        throw error;
      }
    },
  };
}

/** The same, with clients whose calls are bounded (a deploy waits on this). */
export function pinClients(table: string, stateKey: string, bucket: string): PinPorts {
  return pinPorts(DynamoDBDocumentClient.from(new DynamoDBClient(BOUNDED_CLIENT)), table, stateKey, new S3Client(BOUNDED_CLIENT), bucket);
}
