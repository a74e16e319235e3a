// A config repository seen as a tree of files. The same loader serves a local folder, a git commit
// or CodeCommit's GetFolder/GetFile: each only has to implement `read`.
import { lstat, readFile } from "node:fs/promises";
import { resolve, sep } from "node:path";

export interface ConfigTree {
  /** Reads a file by its POSIX path relative to the repository root; undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
}

/** Rejects absolute paths and any path that climbs out of the repository. */
export function isSafeRelativePath(path: string): boolean {
  return path.length > 0 && !path.startsWith("/") && !path.split("/").some((part) => part === ".." || part === "");
}

/** A file the tree will not read, with the rule and the reason to report at the place that names it. */
export class RefusedFile extends Error {
  readonly rule: string;
  constructor(rule: string, message: string) {
    super(message);
    this.rule = rule;
  }
}

/**
 * A folder on disk. Symbolic links are refused wherever they point: git and CodeCommit store a link as its
 * target's path, not the file, so following one locally would validate content the deployed config never sees,
 * and a link could reach files outside the repository.
 */
export class DirectoryTree implements ConfigTree {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  async read(path: string): Promise<string | undefined> {
    if (!isSafeRelativePath(path)) return undefined;
    const full = resolve(this.root, path);
    if (!full.startsWith(this.root + sep)) return undefined;
    const parts = path.split("/");
    for (let depth = 1; depth <= parts.length; depth++) {
      const stats = await lstat(resolve(this.root, ...parts.slice(0, depth))).catch(() => undefined);
      if (!stats) return undefined;
      if (stats.isSymbolicLink()) {
        throw new RefusedFile("symlink",
          `${parts.slice(0, depth).join("/")} is a symbolic link; links are not followed (git stores only the link's target): commit the file itself`);
      }
    }
    try {
      return await readFile(full, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") return undefined;
      throw error;
    }
  }
}

export class MemoryTree implements ConfigTree {
  private readonly files: ReadonlyMap<string, string>;
  constructor(files: Record<string, string>) {
    this.files = new Map(Object.entries(files));
  }

  async read(path: string): Promise<string | undefined> {
    return isSafeRelativePath(path) ? this.files.get(path) : undefined;
  }
}

/** A tree that remembers what was read: exactly the files a config uses, for an accepted snapshot. */
export function recordingTree(tree: ConfigTree): ConfigTree & { readFiles(): Record<string, string> } {
  const read = new Map<string, string>();
  return {
    async read(path) {
      const content = await tree.read(path);
      if (content !== undefined) read.set(path, content);
      return content;
    },
    readFiles: () => Object.fromEntries([...read].sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}
