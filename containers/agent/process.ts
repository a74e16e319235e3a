// Running the data-plane binaries: one-shot commands with a time limit, and long-running daemons
// that are always stopped again.
//
// A daemon's stdout and stderr are a real FIFO, not Node's "pipe" (a UNIX socketpair): daemons that open
// /dev/stdout or /dev/stderr by name (NGINX access_log, Squid stdio: logs, charon's filelog) get ENXIO on a
// socket, but reopen a FIFO fine. The agent reads the FIFO line by line and hands each line on; it keeps
// only a bounded tail for error messages, never the whole output.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** Run inside this network namespace (ip netns exec). */
  readonly netns?: string;
  /**
   * Give the command /dev/null as stdout: for checks that open /dev/stdout by name (nginx -t with
   * access_log /dev/stdout), which fails on the socketpair a captured stdout is (ENXIO).
   */
  readonly discardStdout?: boolean;
}

export function commandLine(command: string, args: readonly string[], netns?: string): [string, string[]] {
  return netns ? ["ip", ["netns", "exec", netns, command, ...args]] : [command, [...args]];
}

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = commandLine(command, args, options.netns);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: options.env ?? process.env, stdio: ["pipe", options.discardStdout ? "ignore" : "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command may exit before reading its input; that is its answer, not an error here.
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(options.input ?? "");
  });
}

export interface DaemonExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the daemon could not be started at all (e.g. its binary is missing). */
  readonly error?: string;
}

export interface Daemon {
  readonly process: ChildProcess;
  /** The last lines the daemon printed (bounded), for error reports. */
  output(): string;
  /** Resolves once the daemon has exited, and every line it wrote has been handed on. */
  readonly exited: Promise<DaemonExit>;
  running(): boolean;
  /**
   * Sends `signal` (SIGTERM by default) and waits up to `graceMs` (5 s by default) for the daemon to exit,
   * then kills it.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface DaemonOptions extends RunOptions {
  /** Receives each line the daemon writes to stdout or stderr, in order. */
  readonly onLine?: (line: string) => void;
  /** The user the daemon drops to, when it reopens /dev/stdout after dropping (Squid's `proxy`). */
  readonly outputOwner?: { readonly uid: number; readonly gid: number };
}

/** Lines kept for error messages; older lines are dropped. */
const TAIL_LINES = 200;
/** A line longer than this is handed on in pieces, so a daemon without newlines cannot grow a buffer. */
const MAX_LINE = 16 * 1024;

/** Splits a byte stream into lines, holding at most MAX_LINE bytes of an unfinished line. */
export class LineSplitter {
  private partial = "";
  private readonly emit: (line: string) => void;
  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }

  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop()!;
    for (const line of parts) this.emit(line.replace(/\r$/, ""));
    while (this.partial.length > MAX_LINE) {
      this.emit(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  flush(): void {
    if (this.partial !== "") this.emit(this.partial);
    this.partial = "";
  }
}

/** A FIFO the daemon writes to (both ends opened, so neither open blocks) and the agent reads from. */
function outputFifo(owner?: { uid: number; gid: number }): { readEnd: number; writeEnd: number; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "proxy-fleet-out-"));
  const path = join(dir, "output");
  const made = spawnSync("mkfifo", ["-m", "0600", path]);
  if (made.status !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr?.toString().trim() || made.error}`);
  if (owner) chownSync(path, owner.uid, owner.gid);
  const readEnd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeEnd = openSync(path, constants.O_WRONLY);
  return { readEnd, writeEnd, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts a long-running process whose output arrives line by line. */
export function startDaemon(command: string, args: readonly string[], options: DaemonOptions = {}): Daemon {
  const [file, argv] = commandLine(command, args, options.netns);
  const fifo = outputFifo(options.outputOwner);
  let child: ChildProcess;
  try {
    child = spawn(file, argv, { env: options.env ?? process.env, stdio: ["ignore", fifo.writeEnd, fifo.writeEnd] });
  } finally {
    closeSync(fifo.writeEnd);
  }
  const tail: string[] = [];
  const splitter = new LineSplitter((line) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    options.onLine?.(line);
  });
  const reader = new Socket({ fd: fifo.readEnd, readable: true, writable: false });
  reader.setEncoding("utf8");
  reader.on("data", (chunk: string) => splitter.push(chunk));
  // The FIFO ends when every writer (the daemon and anything it forked) has closed it.
  const drained = new Promise<void>((resolve) => reader.once("close", () => resolve()));
  reader.on("error", () => undefined);
  let startError: string | undefined;
  const processExited = new Promise<DaemonExit>((resolve) => {
    child.once("error", (error) => {
      startError = `${command}: ${error.message}`;
      resolve({ code: null, signal: null, error: startError });
    });
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const exited = processExited.then(async (exit) => {
    // A forked child that kept the FIFO open must not hold the exit report back for long.
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    splitter.flush();
    reader.destroy();
    fifo.remove();
    return exit;
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    process: child,
    output: () => tail.join("\n"),
    exited,
    running: () => !done && startError === undefined && child.exitCode === null && child.signalCode === null,
    async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null && startError === undefined) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    },
  };
}

/** Polls `probe` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The numeric uid and gid of a local user, from /etc/passwd; undefined when there is none. */
export function userIds(name: string): { uid: number; gid: number } | undefined {
  const r = spawnSync("id", ["-u", name]);
  const g = spawnSync("id", ["-g", name]);
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.toString().trim()), gid: Number(g.stdout.toString().trim()) };
}
