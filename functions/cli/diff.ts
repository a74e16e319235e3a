// `fleet diff`: what a config change does to each service, between two folders, two commits of a local git
// repository, or a folder (or commit) and what is deployed (the accepted snapshot in the config bucket).
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { runningModel } from "../dns/sync.ts";
import type { AcceptedSnapshot } from "../dns/ports.ts";
import { diffFleets } from "../diff/fleet.ts";
import { formatDiffText } from "../diff/format.ts";
import { formatIssue } from "../fleet/issues.ts";
import { loadFleet, type FleetModel } from "../fleet/load.ts";
import { DirectoryTree, MemoryTree, RefusedFile, isSafeRelativePath, type ConfigTree } from "../fleet/tree.ts";

const run = promisify(execFile);
const GIT_OUTPUT_LIMIT = 256 * 1024 * 1024;

/** The word for the deployed side: `--from deployed`. */
export const DEPLOYED = "deployed";

async function git(repo: string, args: string[]): Promise<string> {
  const { stdout } = await run("git", ["-C", repo, ...args], { maxBuffer: GIT_OUTPUT_LIMIT, encoding: "utf8" });
  return stdout;
}

/**
 * A commit of a local git repository as a config tree. Files are read as git stores them; a symbolic link
 * (mode 120000) is refused as the folder tree refuses one, since CodeCommit would hand over the link's target path.
 */
export async function gitTree(repo: string, ref: string): Promise<ConfigTree & { commit: string }> {
  let commit: string;
  try {
    commit = (await git(repo, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])).trim();
  } catch {
    throw new UsageError(`${ref} is not a commit, branch or tag of the git repository ${repo}`);
  }
  const entries = new Map<string, { mode: string; blob: string }>();
  for (const entry of (await git(repo, ["ls-tree", "-r", "-z", "--full-tree", commit])).split("\0")) {
    const match = /^(\d+) \w+ ([0-9a-f]+)\t(.*)$/s.exec(entry);
    if (match) entries.set(match[3]!, { mode: match[1]!, blob: match[2]! });
  }
  return {
    commit,
    async read(path) {
      if (!isSafeRelativePath(path)) return undefined;
      const entry = entries.get(path);
      if (!entry) return undefined;
      if (entry.mode === "120000") {
        throw new RefusedFile("symlink", `${path} is a symbolic link in ${ref}; links are not followed (git stores only the link's target): commit the file itself`);
      }
      return git(repo, ["cat-file", "blob", entry.blob]);
    },
  };
}

export class UsageError extends Error {}

export interface Side {
  /** How errors and the heading name this side: a folder path, "ref (commit)", or "deployed (commit)". */
  readonly label: string;
  /** Turns a config file path into what a person opens: the folder path, or "ref:path". */
  readonly locate: (file: string) => string;
  /** The model; undefined for a side with nothing on it (nothing deployed yet). */
  readonly load: () => Promise<{ ok: true; model: FleetModel | undefined } | { ok: false; errors: string[] }>;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

function treeSide(label: string, tree: ConfigTree, locate: (file: string) => string): Side {
  return {
    label, locate,
    async load() {
      const loaded = await loadFleet(tree);
      return loaded.ok ? { ok: true, model: loaded.model } : { ok: false, errors: loaded.errors.map((e) => formatIssue({ ...e, file: locate(e.file) })) };
    },
  };
}

/**
 * One side of a diff: a folder when `spec` is one, `deployed` for the accepted snapshot, otherwise a commit,
 * branch or tag of the git repository `repo`.
 */
export async function resolveSide(spec: string, repo: string | undefined, deployed: () => Promise<AcceptedSnapshot | undefined>): Promise<Side> {
  if (spec === DEPLOYED) {
    return {
      label: "deployed", locate: (file) => `deployed:${file}`,
      async load() {
        const snapshot = await deployed();
        if (!snapshot) return { ok: true, model: undefined };
        const loaded = await loadFleet(new MemoryTree({ ...snapshot.files }));
        if (!loaded.ok) return { ok: false, errors: loaded.errors.map((e) => formatIssue({ ...e, file: `deployed ${snapshot.commit.slice(0, 12)}:${e.file}` })) };
        return { ok: true, model: await runningModel(loaded.model, Object.entries(snapshot.pinned ?? {})) };
      },
    };
  }
  if (await isDirectory(spec)) {
    return treeSide(spec, new DirectoryTree(spec), (file) => join(spec, file));
  }
  if (!repo) throw new UsageError(`${spec} is not a folder; a commit or branch needs the git repository (fleet diff <repo> <from>..<to>)`);
  const tree = await gitTree(repo, spec);
  return treeSide(`${spec} (${tree.commit.slice(0, 12)})`, tree, (file) => `${spec}:${file}`);
}

export interface DiffRequest {
  readonly from: string;
  readonly to: string;
  readonly repo?: string;
}

/** Parses `fleet diff` arguments: `<repo> <from>..<to>`, `--from/--to [--repo]`, or `<folder>` (against deployed). */
export function diffRequest(positionals: readonly string[], from: string | undefined, to: string | undefined): DiffRequest {
  const [first, second, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError("diff takes at most a repository and a range <from>..<to>");
  if (from !== undefined || to !== undefined) {
    if (second !== undefined) throw new UsageError("diff takes either <repo> <from>..<to> or --from/--to, not both");
    return { from: from ?? DEPLOYED, to: to ?? first ?? ".", ...(first !== undefined ? { repo: first } : {}) };
  }
  if (first === undefined) throw new UsageError("diff needs <repo> <from>..<to>, --from <ref|dir> --to <ref|dir>, or a folder to compare with what is deployed");
  if (second === undefined) return { from: DEPLOYED, to: first };
  const range = /^(.+?)\.\.(.+)$/.exec(second);
  if (!range || range[2]!.startsWith(".")) throw new UsageError(`${second} is not a range: write <from>..<to> (two dots)`);
  return { from: range[1]!, to: range[2]!, repo: first };
}

/**
 * Runs a diff and prints it. Exit status: 0 when both sides are valid, 1 when either has errors (each printed
 * with its file and line), 2 on a usage error.
 */
export async function runDiff(request: DiffRequest, io: { out: (t: string) => void; err: (t: string) => void },
  deployed: () => Promise<AcceptedSnapshot | undefined> = deployedSnapshot): Promise<number> {
  let sides: [Side, Side];
  try {
    sides = [await resolveSide(request.from, request.repo, deployed), await resolveSide(request.to, request.repo, deployed)];
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`fleet: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const [before, after] = [await sides[0].load(), await sides[1].load()];
  let invalid = false;
  for (const [side, loaded] of [[sides[0], before], [sides[1], after]] as const) {
    if (loaded.ok) continue;
    invalid = true;
    for (const line of loaded.errors) io.err(`${line}\n`);
    io.err(`${side.label}: ${loaded.errors.length} error(s); no diff\n`);
  }
  if (invalid || !before.ok || !after.ok) return 1;
  io.out(`fleet diff ${sides[0].label} → ${sides[1].label}\n\n`);
  io.out(formatDiffText(diffFleets(before.model, after.model)));
  return 0;
}

/** The accepted snapshot in the config bucket (CONFIG_BUCKET and the standard AWS environment). */
export async function deployedSnapshot(): Promise<AcceptedSnapshot | undefined> {
  const [{ s3Client, requireEnv }, { acceptedConfig }] = await Promise.all([import("../aws/clients.ts"), import("../aws/config-bucket.ts")]);
  return acceptedConfig(s3Client(), requireEnv("CONFIG_BUCKET")).load();
}

/** The diff a commit would make to what is deployed, for `fleet plan --loop config-rollout`. */
export async function diffAgainstDeployed(tree: ConfigTree, deployed: () => Promise<AcceptedSnapshot | undefined> = deployedSnapshot): Promise<string> {
  const side = await resolveSide(DEPLOYED, undefined, deployed);
  const [before, after] = [await side.load(), await loadFleet(tree)];
  if (!before.ok) return `the deployed config does not load, so there is no diff:\n${before.errors.map((e) => `  ${e}\n`).join("")}`;
  if (!after.ok) return "";
  return formatDiffText(diffFleets(before.model, after.model));
}
