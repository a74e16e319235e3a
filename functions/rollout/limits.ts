// The documented size limits of the AWS calls whose input is built from user data, and pure helpers that
// keep each input within them. A config with 500 errors, or 65 services, must still produce a comment
// CodeCommit accepts and an event EventBridge accepts.
//
//   call                                    limit                                 source
//   --------------------------------------  ------------------------------------  ---------------------------------------------
//   CodeCommit PostCommentForComparedCommit content ≤ 10,240 characters           CommentContentSizeLimitExceededException
//   CodeCommit located comment              the file must exist in the commit,    PathDoesNotExistException,
//                                           the line in the file                  InvalidFilePositionException
//   EventBridge PutEvents                   an entry (Source + DetailType +       "Calculating PutEvents event entry size",
//                                           Detail, UTF-8 bytes) < 256 KB         EventBridge user guide
//   S3 object keys                          ≤ 1,024 bytes                         bounded by the service-name rule (48 chars)
//   DynamoDB item (the rollout state)       ≤ 400 KB                              "Service, account, and table quotas in DynamoDB"

/** CodeCommit: "Comments are limited to 10,240 characters." */
export const COMMENT_LIMIT = 10_240;
/** EventBridge: the total entry size must be less than 256 KB; room is left for Source and DetailType. */
export const EVENT_ENTRY_LIMIT = 256 * 1024;
const EVENT_ENVELOPE_ALLOWANCE = 1024;
/** One item (an error, a service line) never takes more than this, so one huge value cannot crowd out the rest. */
export const ITEM_LIMIT = 1_000;

/** Cuts a string to at most `limit` characters (UTF-16 units, never fewer code points than CodeCommit counts). */
export function clip(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const cut = text.slice(0, Math.max(0, limit - 1));
  // Never split a surrogate pair.
  const safe = /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
  return `${safe}…`;
}

/**
 * A comment made of a fixed head, a list and a fixed tail, at most `limit` characters: items that do not
 * fit are replaced by "…and N more" followed by `whereTheRestIs`.
 */
export function boundedComment(parts: {
  head: readonly string[];
  items: readonly string[];
  tail?: readonly string[];
  whereTheRestIs: string;
}, limit = COMMENT_LIMIT): string {
  const head = parts.head.join("\n");
  const tail = parts.tail?.length ? `\n\n${parts.tail.join("\n")}` : "";
  const items = parts.items.map((item) => clip(item, ITEM_LIMIT));
  const more = (n: number) => `\n…and ${n} more: ${parts.whereTheRestIs}`;
  let body = "";
  let shown = 0;
  for (const item of items) {
    const remaining = items.length - shown - 1;
    const candidate = `${body}\n${item}`;
    const reserve = remaining > 0 ? more(remaining).length : 0;
    if (head.length + candidate.length + reserve + tail.length > limit) break;
    body = candidate;
    shown++;
  }
  const text = `${head}${body}${shown < items.length ? more(items.length - shown) : ""}${tail}`;
  // Only a head or tail beyond the limit by itself gets here; the caller's fixed text is short.
  return clip(text, limit);
}

/** UTF-8 bytes of a PutEvents entry, as EventBridge counts them. */
export function eventEntrySize(source: string, detailType: string, detail: object): number {
  return Buffer.byteLength(source) + Buffer.byteLength(detailType) + Buffer.byteLength(JSON.stringify(detail));
}

/**
 * An event detail whose list field is cut until the entry fits EventBridge's limit; `<field>Total` and
 * `<field>Omitted` then say how many there were and how many were left out (the log has the full list).
 */
export function fitEventDetail<K extends string, T>(
  detail: Record<string, unknown> & Record<K, readonly T[]>, field: K, limit = EVENT_ENTRY_LIMIT - EVENT_ENVELOPE_ALLOWANCE,
): Record<string, unknown> {
  const size = (d: object) => Buffer.byteLength(JSON.stringify(d));
  const all = detail[field];
  if (size(detail) <= limit) return detail;
  const at = (n: number) => ({ ...detail, [field]: all.slice(0, n), [`${field}Total`]: all.length, [`${field}Omitted`]: all.length - n });
  // Largest prefix that fits: binary search over the count.
  let low = 0;
  let high = all.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (size(at(mid)) <= limit) low = mid;
    else high = mid - 1;
  }
  return at(low);
}

/** 1-based line count of a file as a code review shows it (a trailing newline ends the last line). */
export function lineCount(text: string): number {
  if (text.length === 0) return 0;
  const lines = text.split("\n").length;
  return text.endsWith("\n") ? lines - 1 : lines;
}

/**
 * Failed bundle hashes remembered per service. The rollout state is one DynamoDB item (at most 400 KB), and
 * failures only ever add to it; the most recent ones are what a new commit can bring back.
 */
export const FAILED_PER_SERVICE = 25;

/** The failed list with `hash` added (most recent last), holding at most FAILED_PER_SERVICE entries. */
export function rememberFailure(failed: readonly string[], hash: string): string[] {
  return [...failed.filter((h) => h !== hash), hash].slice(-FAILED_PER_SERVICE);
}
