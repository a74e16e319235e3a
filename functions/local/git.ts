// The local config repository: a git repository on this machine stands in for CodeCommit. The rollout loop
// reads it through the same Repository port (branch head, parent, changed paths, files at a commit), and its
// comments become git notes (refs/notes/proxy-fleet) on the commit they are about.
import { watch, type FSWatcher } from "node:fs";
import { cp, mkdir, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { run, type RunResult } from "../../containers/agent/process.ts";
import { RefusedFile, isSafeRelativePath, type ConfigTree } from "../fleet/tree.ts";
import type { CommentLocation, Repository } from "../rollout/ports.ts";

export const NOTES_REF = "proxy-fleet";

/** An author for commits and notes the local fleet makes itself, so a machine without git identity works. */
const IDENTITY = {
  GIT_AUTHOR_NAME: "proxy-fleet", GIT_AUTHOR_EMAIL: "proxy-fleet@localhost",
  GIT_COMMITTER_NAME: "proxy-fleet", GIT_COMMITTER_EMAIL: "proxy-fleet@localhost",
};

export async function git(dir: string, args: readonly string[], input?: string): Promise<RunResult> {
  return run("git", ["-C", dir, ...args], { env: { ...process.env, ...IDENTITY }, timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });
}

async function gitOk(dir: string, args: readonly string[], input?: string): Promise<string> {
  const r = await git(dir, args, input);
  if (r.code !== 0) throw new Error(`git ${args.join(" ")} (in ${dir}) failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * The repository at `dir`: an existing git repository is used as it is; otherwise one is created there with
 * `seed`'s files as its first commit on `branch`.
 */
export async function openOrCreateRepository(dir: string, branch: string, seed?: string): Promise<{ created: boolean }> {
  const root = resolve(dir);
  if ((await git(root, ["rev-parse", "--git-dir"])).code === 0 && (await stat(join(root, ".git")).catch(() => undefined))) {
    return { created: false };
  }
  if (!seed) throw new Error(`${root} is not a git repository (give --repo an existing one, or a folder to start from)`);
  await mkdir(root, { recursive: true });
  if ((await readdir(root)).length > 0) throw new Error(`${root} exists and is not an empty folder: not creating a repository there`);
  await cp(resolve(seed), root, { recursive: true, filter: (source) => !source.split("/").includes(".git") });
  await gitOk(root, ["init", "-q", "-b", branch]);
  await gitOk(root, ["add", "-A"]);
  await gitOk(root, ["commit", "-q", "-m", `Config from ${seed}`]);
  return { created: true };
}

export interface GitTreeEntry {
  readonly mode: string;
  readonly oid: string;
}

/** The Repository port over `git`. */
export class GitRepository implements Repository {
  readonly name: string;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.name = `git:${this.dir}`;
  }

  async branchHead(branch: string): Promise<string> {
    return (await gitOk(this.dir, ["rev-parse", "--verify", `refs/heads/${branch}^{commit}`])).trim();
  }

  async parentOf(commit: string): Promise<string | undefined> {
    const r = await git(this.dir, ["rev-parse", "--verify", "--quiet", `${commit}^1`]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async changedPaths(before: string, after: string): Promise<string[]> {
    // --no-renames lists both sides of a rename, as the port asks.
    const out = await gitOk(this.dir, ["diff", "--name-only", "--no-renames", "-z", before, after]);
    return out.split("\0").filter((p) => p !== "").sort();
  }

  treeAt(commit: string): ConfigTree {
    let listing: Promise<Map<string, GitTreeEntry>> | undefined;
    const entries = () => (listing ??= this.listTree(commit));
    return {
      read: async (path) => {
        if (!isSafeRelativePath(path)) return undefined;
        const all = await entries();
        const parts = path.split("/");
        // A link anywhere on the way is refused, as DirectoryTree does: git stores only the link's target.
        for (let depth = 1; depth <= parts.length; depth++) {
          const entry = all.get(parts.slice(0, depth).join("/"));
          if (entry?.mode === "120000") {
            throw new RefusedFile("symlink", `${parts.slice(0, depth).join("/")} is a symbolic link; links are not followed: commit the file itself`);
          }
        }
        const entry = all.get(path);
        if (!entry || !entry.mode.startsWith("100")) return undefined;
        return gitOk(this.dir, ["cat-file", "blob", entry.oid]);
      },
    };
  }

  /** Appends `content` to the commit's note, unless the note already holds it (so a retry posts it once). */
  async comment(_before: string | undefined, after: string, content: string, location?: CommentLocation): Promise<void> {
    const text = location ? `${location.filePath}:${location.filePosition}: ${content}` : content;
    if ((await this.note(after)).includes(text)) return;
    await gitOk(this.dir, ["notes", `--ref=${NOTES_REF}`, "append", "-F", "-", after], text);
  }

  /** The commit's proxy-fleet note ("" when there is none). */
  async note(commit: string): Promise<string> {
    const r = await git(this.dir, ["notes", `--ref=${NOTES_REF}`, "show", commit]);
    return r.code === 0 ? r.stdout : "";
  }

  async subject(commit: string): Promise<string> {
    return (await gitOk(this.dir, ["log", "-1", "--format=%s", commit])).trim();
  }

  private async listTree(commit: string): Promise<Map<string, GitTreeEntry>> {
    const out = await gitOk(this.dir, ["ls-tree", "-r", "-t", "-z", "--full-tree", commit]);
    const entries = new Map<string, GitTreeEntry>();
    for (const record of out.split("\0")) {
      if (!record) continue;
      const tab = record.indexOf("\t");
      const [mode, , oid] = record.slice(0, tab).split(" ") as [string, string, string];
      entries.set(record.slice(tab + 1), { mode, oid });
    }
    return entries;
  }
}

/**
 * Calls `onChange` (at most once per `debounceMs`) when the branch's ref may have moved: a commit, a reset, a
 * push into this repository, `git gc` packing the ref. Watches .git itself (packed-refs, HEAD), the branch's
 * folder under refs/heads and its reflog; the working tree is never looked at.
 */
export function watchBranch(repoDir: string, branch: string, onChange: () => void, debounceMs = 150): { close(): void } {
  const gitDir = join(resolve(repoDir), ".git");
  const branchFolder = branch.includes("/") ? branch.slice(0, branch.lastIndexOf("/")) : "";
  const watched = [gitDir, join(gitDir, "refs", "heads", branchFolder), join(gitDir, "logs", "refs", "heads", branchFolder)];
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const path of watched) {
    try {
      watchers.push(watch(path, { persistent: false }, fire));
    } catch {
      // A folder that does not exist yet (no reflog): the .git watcher still sees packed-refs and HEAD.
    }
  }
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
