// Steps both rollout loops take (the rollout on a commit, the watch on a deployment's end), kept apart from
// the config loader and renderers so the watch's Lambda bundles neither.
import type { AcceptedSnapshot, PinnedService } from "../dns/ports.ts";
import { clip, ITEM_LIMIT } from "./limits.ts";
import type { AcceptedStore, CommentLocation, Repository } from "./ports.ts";

/** The rollout state's key: one item per tracked branch of one repository. */
export const stateKey = (ports: { readonly repository: Pick<Repository, "name">; readonly branch: string }) => `${ports.repository.name}#${ports.branch}`;

/**
 * Posts a comment; a refusal (size, path, permissions, throttling beyond the SDK's retries) is recorded in
 * `failures` for the log and the metrics, and never fails the run: the comment only reports, the state
 * and the event are what count.
 */
export async function commentSafely(
  repo: Repository, failures: string[], before: string | undefined, after: string, content: string, location?: CommentLocation,
): Promise<void> {
  try {
    await repo.comment(before, after, content, location);
  } catch (error) {
    const name = (error as { name?: string }).name ?? "Error";
    const where = location ? ` on ${location.filePath}:${location.filePosition}` : "";
    failures.push(`${name}${where}: ${clip((error as Error).message ?? String(error), ITEM_LIMIT)}`);
  }
}

/** The accepted config at a commit, as a pin; null when it is not known. */
export async function runningConfig(accepted: AcceptedStore | undefined, commit: string | undefined): Promise<PinnedService | null> {
  if (!accepted || !commit) return null;
  const snapshot: AcceptedSnapshot | undefined = await accepted.atCommit(commit);
  return snapshot ? { commit, files: snapshot.files } : null;
}

/**
 * Starts a call now and hands back a way to await it later: independent round trips overlap, and a failure
 * surfaces where the result is awaited (never as an unhandled rejection in between).
 */
export function early<T>(started: Promise<T>): () => Promise<T> {
  const settled = started.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
  return async () => {
    const outcome = await settled;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  };
}

/** Waits for every call to end (none is left running behind a failure), then fails with the first failure. */
export async function settleAll(calls: readonly Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
}
