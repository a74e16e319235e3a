// The local config repository: the Repository port over a real git repository, its notes as comments, the
// branch watch, and the content-addressed local bucket.
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../containers/agent/process.ts";
import { loadFleet } from "../../functions/fleet/load.ts";
import { git, GitRepository, NOTES_REF, openOrCreateRepository, watchBranch } from "../../functions/local/git.ts";
import { LocalBundleStore } from "../../functions/local/store.ts";
import { renderFleet } from "../../functions/render/bundle.ts";
import { EXAMPLES_DIR } from "../support/fixtures.ts";
import { tempDir } from "../support/tmp.ts";

let work: { path: string; cleanup: () => Promise<void> };
let repo: GitRepository;

async function commitFile(path: string, text: string, message: string): Promise<string> {
  await mkdir(join(repo.dir, path, ".."), { recursive: true });
  await writeFile(join(repo.dir, path), text);
  await git(repo.dir, ["add", "-A"]);
  expect((await git(repo.dir, ["commit", "-q", "-m", message])).code).toBe(0);
  return (await git(repo.dir, ["rev-parse", "HEAD"])).stdout.trim();
}

beforeAll(async () => {
  work = await tempDir("local-git");
  const dir = join(work.path, "repo");
  expect(await openOrCreateRepository(dir, "main", EXAMPLES_DIR)).toEqual({ created: true });
  repo = new GitRepository(dir);
});

afterAll(async () => {
  await work?.cleanup();
});

describe("the local config repository", () => {
  it("is created once from a folder, then used as it is", async () => {
    expect(await openOrCreateRepository(repo.dir, "main", EXAMPLES_DIR)).toEqual({ created: false });
    await expect(openOrCreateRepository(join(work.path, "missing"), "main")).rejects.toThrow(/is not a git repository/);
    await mkdir(join(work.path, "busy"));
    await writeFile(join(work.path, "busy", "file"), "x");
    await expect(openOrCreateRepository(join(work.path, "busy"), "main", EXAMPLES_DIR)).rejects.toThrow(/not an empty folder/);
  });

  it("reads the branch head, parents, changed paths and files at a commit; the example validates from git", async () => {
    const first = await repo.branchHead("main");
    expect(await repo.parentOf(first)).toBeUndefined();
    const loaded = await loadFleet(repo.treeAt(first));
    expect(loaded.ok).toBe(true);
    const second = await commitFile("allowlists/egress.txt", "example.org\n", "Allow example.org");
    expect(await repo.branchHead("main")).toBe(second);
    expect(await repo.parentOf(second)).toBe(first);
    expect(await repo.changedPaths(first, second)).toEqual(["allowlists/egress.txt"]);
    expect(await repo.treeAt(second).read("allowlists/egress.txt")).toBe("example.org\n");
    expect(await repo.treeAt(first).read("allowlists/egress.txt")).toContain("sts.amazonaws.com");
    expect(await repo.treeAt(second).read("missing.txt")).toBeUndefined();
    expect(await repo.treeAt(second).read("../outside")).toBeUndefined();
    expect(await repo.treeAt(second).read("allowlists")).toBeUndefined(); // a folder is not a file
    expect(await repo.subject(second)).toBe("Allow example.org");
  });

  it("refuses a committed symbolic link, as the folder tree does", async () => {
    await symlink("egress.txt", join(repo.dir, "allowlists", "link.txt"));
    const head = await commitFile("other.txt", "x\n", "A link");
    await expect(repo.treeAt(head).read("allowlists/link.txt")).rejects.toThrow(/symbolic link/);
  });

  it("comments as git notes, each once, located ones with file:line", async () => {
    const head = await repo.branchHead("main");
    await repo.comment(undefined, head, "**proxy-fleet rejected**: nothing was rolled out");
    await repo.comment(undefined, head, "**proxy-fleet rejected**: nothing was rolled out");
    await repo.comment(undefined, head, "bad wildcard", { filePath: "allowlists/egress.txt", filePosition: 3 });
    const note = (await git(repo.dir, ["notes", `--ref=${NOTES_REF}`, "show", head])).stdout;
    expect(note.match(/nothing was rolled out/g)).toHaveLength(1);
    expect(note).toContain("allowlists/egress.txt:3: bad wildcard");
    expect(await repo.note(await repo.parentOf(head) as string)).toBe("");
  });

  it("sees a commit on the branch through the ref, not the working tree", async () => {
    let seen = 0;
    const watcher = watchBranch(repo.dir, "main", () => seen++, 50);
    try {
      await writeFile(join(repo.dir, "untracked.txt"), "edit without commit\n");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toBe(0);
      await commitFile("watched.txt", "x\n", "Watched");
      await waitFor("the branch watch", () => seen > 0, 5_000);
    } finally {
      watcher.close();
    }
  });
});

describe("the local bucket", () => {
  it("stores bundles write-once by hash, and the accepted snapshots with a conditional replace", async () => {
    const store = new LocalBundleStore(join(work.path, "bucket"));
    const loaded = await loadFleet(repo.treeAt(await repo.branchHead("main")));
    if (!loaded.ok) throw new Error("the example does not validate");
    const [bundle] = renderFleet(loaded.model).bundles;
    const key = await store.putBundle(bundle!);
    expect(key).toBe(`bundles/${bundle!.service}/${bundle!.hash.slice("sha256:".length)}.json`);
    expect(await store.putBundle(bundle!)).toBe(key);
    expect(await store.getBundle(key)).toEqual(bundle);
    expect(await store.current()).toBeUndefined();
    await store.putAccepted({ commit: "aaaa1111", files: { "fleet.yaml": "a" } });
    await store.putAccepted({ commit: "bbbb2222", files: { "fleet.yaml": "b" } });
    const current = (await store.current())!;
    expect(current.snapshot.commit).toBe("bbbb2222");
    expect((await store.atCommit("aaaa1111"))?.files).toEqual({ "fleet.yaml": "a" });
    expect(await store.atCommit("../current")).toBeUndefined();
    const pinned = { ...current.snapshot, pinned: { router: { commit: "aaaa1111", files: { "fleet.yaml": "a" } } } };
    expect(await store.replaceCurrent(pinned, current.token)).toBe(true);
    expect(await store.replaceCurrent(pinned, current.token)).toBe(false); // the token is of the replaced content
    expect((await store.load())?.pinned?.router?.commit).toBe("aaaa1111");
  });
});
