// `fleet status` and `fleet drill lose-instance`: talk to the running local fleet's status server, found through the
// endpoint file it writes next to its work folder. The text format is a pure function of the board's snapshot.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Io } from "./fleet.ts";
import type { GenerationStatus, LocalStatus, LocatedError } from "../local/status.ts";

/** Where `fleet local` works unless told otherwise (--work). */
export const DEFAULT_LOCAL_WORK_DIR = ".fleet/local";
const REQUEST_TIMEOUT_MS = 5_000;
/** The drill answers once the service has healed (the local fleet gives up after 60 s). */
const DRILL_TIMEOUT_MS = 90_000;
const SHOWN = { rollouts: 10, rejected: 5, events: 15 } as const;

/** The file the running local fleet's status server writes its URL to. */
export function statusEndpointFile(workDir: string = DEFAULT_LOCAL_WORK_DIR): string {
  return join(workDir, "status-endpoint");
}

export interface StatusOptions {
  readonly work?: string;
  readonly url?: string;
}

/** A reason the local fleet could not be reached; printed as is, exit status 1. */
export class NotRunning extends Error {}

export async function statusUrl(options: StatusOptions): Promise<string> {
  if (options.url) return new URL("/", options.url).href;
  const file = statusEndpointFile(options.work);
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new NotRunning(`no local fleet is running: ${file} does not exist (start one with fleet local <repo> --run${options.work ? ` --work ${options.work}` : ""})`);
    throw new NotRunning(`${file}: ${error.message}`);
  });
  try {
    return new URL("/", text.trim()).href;
  } catch {
    throw new NotRunning(`${file}:1: not a URL: ${JSON.stringify(text.trim().slice(0, 80))}`);
  }
}

export async function fetchStatus(url: string): Promise<LocalStatus> {
  const response = await request(new URL("api/status", url).href, {});
  const body = (await response.json().catch(() => undefined)) as unknown;
  if (!response.ok || !isLocalStatus(body)) throw new NotRunning(`${url}api/status did not answer with the local fleet's status (HTTP ${response.status})`);
  return body;
}

export async function loseInstance(url: string, service: string): Promise<{ ok: boolean; message: string }> {
  const response = await request(new URL("api/actions/lose-instance", url).href, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ service }),
  }, DRILL_TIMEOUT_MS);
  const body = (await response.json().catch(() => ({}))) as { error?: string; result?: { lossToTunnelUpMs?: unknown } };
  if (!response.ok) return { ok: false, message: plain(`${service}: ${body.error ?? `HTTP ${response.status}`}`) };
  const healed = body.result?.lossToTunnelUpMs;
  return { ok: true, message: plain(typeof healed === "number" ? `${service}: healed, tunnels up ${duration(healed)} after the loss` : `${service}: instance lost`) };
}

/** `fleet status`: 0 when the fleet answered, 1 (with the reason) when none is running. */
export async function runStatus(options: StatusOptions & { json?: boolean }, io: Io, now: () => number = Date.now): Promise<number> {
  return reachable(io, async () => {
    const url = await statusUrl(options);
    const status = await fetchStatus(url);
    io.out(options.json ? JSON.stringify(status, null, 2) + "\n" : formatStatus(status, url, now()));
    return 0;
  });
}

/** `fleet drill lose-instance <service>`: 0 when the drill ran, 1 when it was refused or no fleet is running. */
export async function runLoseInstance(service: string, options: StatusOptions, io: Io): Promise<number> {
  return reachable(io, async () => {
    const result = await loseInstance(await statusUrl(options), service);
    (result.ok ? io.out : io.err)(result.message + "\n");
    return result.ok ? 0 : 1;
  });
}

async function reachable(io: Io, step: () => Promise<number>): Promise<number> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof NotRunning)) throw error;
    io.err(`fleet: ${error.message}\n`);
    return 1;
  }
}

async function request(url: string, init: RequestInit, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    throw new NotRunning(`no local fleet answers at ${new URL("/", url).href} (${cause}); is \`fleet local --run\` still running?`);
  }
}

function isLocalStatus(value: unknown): value is LocalStatus {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.startedAt === "number" && ["services", "targets", "tunnels", "rollouts", "rejected", "events"].every((key) => Array.isArray(v[key]));
}

/** The snapshot as text for a terminal: what the status page shows, newest first, with ages relative to `now`. */
export function formatStatus(status: LocalStatus, url: string, now: number): string {
  const lines: string[] = [];
  const add = (line: string) => lines.push(line);
  add(`local fleet at ${url}, running for ${age(now - status.startedAt)}`);
  if (status.repository || status.branch) add(`repository ${plain(status.repository ?? "?")} branch ${plain(status.branch ?? "?")}`);
  add(`head ${commitId(status.headCommit)}, accepted ${commitId(status.acceptedCommit)}`);

  add("");
  add("services");
  if (status.services.length === 0) add("  none yet");
  for (const s of status.services) {
    add(`  ${plain(s.service)} (${s.kind}) front ${s.ports.join(", ") || "none"}`);
    add(s.active ? `    active  ${generation(s.active)}${restarts(s.active)}` : "    active  none yet");
    for (const other of s.others) add(`    other   ${generation(other)}`);
    if (s.failedHashes.length > 0) add(`    failed  ${s.failedHashes.map(hash).join(", ")} (not rolled out again)`);
  }

  section(lines, "targets", status.targets, (t) =>
    `  ${plain(t.name)}  ${t.addresses.join(", ") || "none"}  ${plain(t.source)}${t.ttlSeconds === undefined ? "" : `  ttl ${t.ttlSeconds} s`}${t.resolvedAt === undefined ? "" : `  resolved ${age(now - t.resolvedAt)} ago`}`);
  section(lines, "tunnels", status.tunnels, (t) =>
    `  ${plain(t.service)}/${plain(t.connection)}  ${t.state} for ${age(now - t.since)}${t.detail ? `  ${plain(t.detail)}` : ""}`);
  section(lines, "rollouts", status.rollouts.slice(0, SHOWN.rollouts), (r) => {
    const took = r.finishedAt === undefined ? `running for ${age(now - r.startedAt)}` : `took ${duration(r.finishedAt - r.startedAt)}`;
    const steps = Object.entries(r.timings ?? {}).map(([step, ms]) => `${plain(step.replace(/(After)?Ms$/, ""))} +${duration(ms)}`).join(", ");
    return `  ${commitId(r.commit)} ${plain(r.service)} ${hash(r.hash)}  ${r.outcome}  ${took}${steps ? ` (${steps})` : ""}${r.detail ? `  ${plain(r.detail)}` : ""}  ${age(now - r.startedAt)} ago`;
  }, status.rollouts.length);
  section(lines, "rejected commits", status.rejected.slice(0, SHOWN.rejected), (r) =>
    [`  ${commitId(r.commit)} "${plain(r.subject)}"  ${age(now - r.at)} ago`, ...r.errors.map((e) => `    ${locatedError(e)}`)].join("\n"), status.rejected.length);
  section(lines, "recent events", status.events.slice(0, SHOWN.events), (e) =>
    `  ${age(now - e.at).padStart(7)} ago  ${e.level.padEnd(5)} [${plain(e.source)}] ${plain(e.message)}`, status.events.length);
  return lines.join("\n") + "\n";
}

function section<T>(lines: string[], title: string, items: readonly T[], line: (item: T) => string, total = items.length): void {
  lines.push("", title);
  if (items.length === 0) lines.push("  none");
  for (const item of items) lines.push(line(item));
  if (total > items.length) lines.push(`  … ${total - items.length} more (fleet status --json)`);
}

export function locatedError(e: LocatedError): string {
  return plain(`${e.file}:${e.line}${e.column === undefined ? "" : `:${e.column}`}: error[${e.rule}]: ${e.message}`);
}

function generation(g: GenerationStatus): string {
  return `#${g.generation} ${hash(g.hash)} @ ${commitId(g.commit)}  ${g.health}${g.ports.length ? `  on ${g.ports.join(", ")}` : ""}`;
}

function restarts(g: GenerationStatus): string {
  return g.restarts === 0 ? "" : `  restarts ${g.restarts}${g.lastRestartReason ? ` (last: ${plain(g.lastRestartReason)})` : ""}`;
}

const commitId = (commit: string | undefined) => (commit ? plain(commit.slice(0, 7)) : "none");
// Hashes are "sha256:<hex>": the hex part is what tells two bundles apart.
const hash = (value: string) => plain(value.replace(/^sha256:/, "").slice(0, 12));

/** Control characters (terminal escapes in a commit subject…) shown as \u escapes, never sent to the terminal. */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
}

/** A span rounded for reading: 42 s, 3m05s, 2h07m, 3d04h. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}
