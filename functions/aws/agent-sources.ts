// Where a proxy task's agent gets its bundle and its runtime targets: the config bucket.
import { GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import type { BundleSource } from "../../containers/agent/bundle.ts";
import type { RuntimeDocument } from "../plan/documents.ts";
import type { Bundle } from "../render/bundle.ts";
import type { ResolvedTargets } from "../render/context.ts";
import { runtimeDocumentKey } from "./config-bucket.ts";

/**
 * Bounds for every call the agent makes at start-up: a TCP connect, a request without an answer, and the
 * whole call with its retries. A hung endpoint ends the start with an error instead of waiting forever.
 */
export const AGENT_AWS_TIMEOUTS = { connectionTimeout: 3_000, requestTimeout: 5_000, maxAttempts: 3, callTimeout: 20_000 };

/** SDK client settings with those bounds and adaptive retries, for every client that must not hang. */
export const BOUNDED_CLIENT = {
  retryMode: "adaptive",
  maxAttempts: AGENT_AWS_TIMEOUTS.maxAttempts,
  requestHandler: { connectionTimeout: AGENT_AWS_TIMEOUTS.connectionTimeout, requestTimeout: AGENT_AWS_TIMEOUTS.requestTimeout },
} as const;

/** What went wrong with one named AWS resource, in words that name it. */
export function describeAwsError(what: string, error: unknown): Error {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : "";
  return new Error(`could not read ${what}: ${e.name ?? "Error"}${status}: ${e.message ?? String(error)}`, { cause: error });
}

export function s3BundleSource(client: S3Client, bucket: string, key: string, callTimeoutMs = AGENT_AWS_TIMEOUTS.callTimeout): BundleSource {
  return {
    async fetch() {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: AbortSignal.timeout(callTimeoutMs) });
        return JSON.parse(await response.Body!.transformToString()) as Bundle;
      } catch (error) {
        throw describeAwsError(`bundle s3://${bucket}/${key}`, error);
      }
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
        }), { abortSignal: AbortSignal.timeout(AGENT_AWS_TIMEOUTS.callTimeout) });
        etag = response.ETag;
        return (JSON.parse(await response.Body!.transformToString()) as RuntimeDocument).targets;
      } catch (error) {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 304) return undefined;
        if (error instanceof NoSuchKey) return undefined;
        throw describeAwsError(`runtime targets s3://${bucket}/${runtimeDocumentKey(service)}`, error);
      }
    },
  };
}

/** Both sources for one task, on one S3 client with adaptive retries and bounded timeouts. */
export function agentSources(bucket: string, service: string, bundleKey: string) {
  const client = new S3Client(BOUNDED_CLIENT);
  return { bundle: s3BundleSource(client, bucket, bundleKey), targets: s3TargetsSource(client, bucket, service) };
}
