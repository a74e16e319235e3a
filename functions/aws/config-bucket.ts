// The config bucket: the accepted config snapshot (written by the rollout loop) and the runtime target
// documents the data planes poll.
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { AcceptedConfigSource, AcceptedSnapshot, DocumentStore } from "../dns/ports.ts";
import type { AcceptedStore, BundleStore } from "../rollout/ports.ts";

export const ACCEPTED_KEY = "accepted/current.json";
export const runtimeDocumentKey = (service: string) => `runtime/${service}/targets.json`;
const HASH_METADATA = "content-hash";

export function acceptedConfig(client: S3Client, bucket: string): AcceptedConfigSource {
  return {
    async load() {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: ACCEPTED_KEY }));
        const snapshot = JSON.parse(await response.Body!.transformToString()) as AcceptedSnapshot;
        if (typeof snapshot.commit !== "string" || typeof snapshot.files !== "object") {
          throw new Error(`s3://${bucket}/${ACCEPTED_KEY} is not an accepted config snapshot`);
        }
        return snapshot;
      } catch (error) {
        if (error instanceof NoSuchKey) return undefined;
        throw error;
      }
    },
  };
}

export function documentStore(client: S3Client, bucket: string): DocumentStore {
  return {
    async storedHash(service) {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: runtimeDocumentKey(service) }));
        return head.Metadata?.[HASH_METADATA];
      } catch (error) {
        if (error instanceof NotFound || (error as { name?: string }).name === "NotFound") return undefined;
        throw error;
      }
    },
    async put(service, body, hash) {
      await client.send(new PutObjectCommand({
        Bucket: bucket,
        Key: runtimeDocumentKey(service),
        Body: body,
        ContentType: "application/json",
        Metadata: { [HASH_METADATA]: hash },
      }));
    },
  };
}

export const bundleKey = (service: string, hash: string) => `bundles/${service}/${hash.replace(":", "-")}.json`;
export const acceptedHistoryKey = (commit: string) => `accepted/history/${commit}.json`;

/** Bundles are content-addressed and written once (If-None-Match: *); the accepted snapshot keeps its history. */
export function bundleStore(client: S3Client, bucket: string): BundleStore {
  return {
    async putBundle(bundle) {
      const key = bundleKey(bundle.service, bundle.hash);
      try {
        await client.send(new PutObjectCommand({
          Bucket: bucket, Key: key, Body: JSON.stringify(bundle), ContentType: "application/json", IfNoneMatch: "*",
          Metadata: { [HASH_METADATA]: bundle.hash },
        }));
      } catch (error) {
        // Already stored: same key, same content.
        if ((error as { name?: string; $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw error;
      }
      return key;
    },
    async putAccepted(snapshot: AcceptedSnapshot) {
      const body = JSON.stringify(snapshot);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: acceptedHistoryKey(snapshot.commit), Body: body, ContentType: "application/json" }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: ACCEPTED_KEY, Body: body, ContentType: "application/json" }));
    },
  };
}

const isPreconditionFailed = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412;

/**
 * The accepted snapshots for the rollout watch. The current one is replaced with S3's conditional write
 * (If-Match on the ETag read), so a snapshot accepted meanwhile is never overwritten.
 */
export function acceptedStore(client: S3Client, bucket: string): AcceptedStore {
  const read = async (key: string) => {
    try {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { snapshot: JSON.parse(await response.Body!.transformToString()) as AcceptedSnapshot, token: response.ETag ?? "" };
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  };
  return {
    current: () => read(ACCEPTED_KEY),
    atCommit: async (commit) => (await read(acceptedHistoryKey(commit)))?.snapshot,
    async replaceCurrent(snapshot, token) {
      try {
        await client.send(new PutObjectCommand({
          Bucket: bucket, Key: ACCEPTED_KEY, Body: JSON.stringify(snapshot), ContentType: "application/json", IfMatch: token,
        }));
        return true;
      } catch (error) {
        if (isPreconditionFailed(error)) return false;
        throw error;
      }
    },
  };
}
