// Where a proxy task's agent gets its bundle and its runtime targets: the config bucket.
import { GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import type { BundleSource } from "../../containers/agent/bundle.ts";
import type { RuntimeDocument } from "../plan/documents.ts";
import type { Bundle } from "../render/bundle.ts";
import type { ResolvedTargets } from "../render/context.ts";
import { runtimeDocumentKey } from "./config-bucket.ts";

export function s3BundleSource(client: S3Client, bucket: string, key: string): BundleSource {
  return {
    async fetch() {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return JSON.parse(await response.Body!.transformToString()) as Bundle;
    },
  };
}

export interface TargetsSource {
  /** The current targets, or undefined when nothing changed since the last poll (or there is no document yet). */
  poll(): Promise<ResolvedTargets | undefined>;
}

/** Conditional GETs (If-None-Match): an unchanged document costs a 304 and no parsing. */
export function s3TargetsSource(client: S3Client, bucket: string, service: string): TargetsSource {
  let etag: string | undefined;
  return {
    async poll() {
      try {
        const response = await client.send(new GetObjectCommand({
          Bucket: bucket, Key: runtimeDocumentKey(service), ...(etag ? { IfNoneMatch: etag } : {}),
        }));
        etag = response.ETag;
        return (JSON.parse(await response.Body!.transformToString()) as RuntimeDocument).targets;
      } catch (error) {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 304) return undefined;
        if (error instanceof NoSuchKey) return undefined;
        throw error;
      }
    },
  };
}

/** Both sources for one task, on one S3 client with adaptive retries. */
export function agentSources(bucket: string, service: string, bundleKey: string) {
  const client = new S3Client({ retryMode: "adaptive" });
  return { bundle: s3BundleSource(client, bucket, bundleKey), targets: s3TargetsSource(client, bucket, service) };
}
