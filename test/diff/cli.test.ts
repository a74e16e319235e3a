// `fleet diff` as a user runs it, on git repositories made here: branches, renames, deleted services, big
// allowlists, invalid sides, and a folder against the deployed config.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runDiff } from "../../functions/cli/diff.ts";
import { main } from "../../functions/cli/fleet.ts";
import { writeTree } from "../support/tree.ts";

const FLEET = `version: 1
services:
  router:
    kind: haproxy
    listeners:
      - name: pg
        port: 5432
        backends: [{ host: db1.corp.example.com, port: 5432 }]
  egress:
    kind: squid
    allowlist: allowlists/egress.txt
    allowedSources: [10.0.0.0/8]
  ingress:
    kind: nginx
    resolver: { addresses: [169.254.169.253], valid: 30s }
    tls: [{ port: 443, routes: [{ match: api.example.com, upstream: { host: api.lattice.example, port: 443 } }] }]
`;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function capture() {
  const io = { stdout: "", stderr: "", out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

async function gitRepo(files: Record<string, string>): Promise<{ dir: string; git: (...args: string[]) => string }> {
  const dir = await mkdtemp(join(tmpdir(), "pf-diff-"));
  dirs.push(dir);
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { encoding: "utf8" });
  git("init", "-q", "-b", "main");
  await writeTree(dir, files);
  git("add", "-A");
  git("commit", "-qm", "first");
  return { dir, git };
}

/** Commits changes (null: delete) on `branch`, creating it from the current one when new. */
async function commitOn(repo: Awaited<ReturnType<typeof gitRepo>>, branch: string, changes: Record<string, string | null>) {
  repo.git("checkout", "-q", "-B", branch);
  for (const [path, content] of Object.entries(changes)) {
    if (content === null) repo.git("rm", "-q", path);
    else await writeTree(repo.dir, { [path]: content });
  }
  repo.git("add", "-A");
  repo.git("commit", "-qm", `change on ${branch}`);
}

describe("fleet diff <repo> main..feature", () => {
  it("shows each changed service with both hashes and a unified diff of its rendered file; unchanged ones by hash", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    await commitOn(repo, "feature", { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n") });
    const io = capture();

    expect(await main(["diff", repo.dir, "main..feature"], io)).toBe(0);

    expect(io.stdout).toMatch(/^fleet diff main \([0-9a-f]{12}\) → feature \([0-9a-f]{12}\)$/m);
    expect(io.stdout).toMatch(/^router \(haproxy\): changed, sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}$/m);
    expect(io.stdout).toContain("    --- a/router/haproxy.cfg\n    +++ b/router/haproxy.cfg\n");
    expect(io.stdout).toContain("    -    bind :5432\n    +    bind :5433\n");
    expect(io.stdout).toMatch(/^egress \(squid\): unchanged, sha256:[0-9a-f]{12}$/m);
    expect(io.stdout).toContain("3 services: 0 added, 0 removed, 1 changed, 2 unchanged\n");
  });

  it("a renamed service is one removed and one added; a renamed allowlist file changes nothing the proxy runs but its model", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    repo.git("checkout", "-q", "-b", "rename");
    repo.git("mv", "allowlists/egress.txt", "allowlists/outbound.txt");
    await writeTree(repo.dir, { "fleet.yaml": FLEET.replace("  router:\n", "  postgres-router:\n").replace("allowlists/egress.txt", "allowlists/outbound.txt") });
    repo.git("commit", "-qam", "rename");
    const io = capture();

    expect(await main(["diff", repo.dir, "main..rename"], io)).toBe(0);

    expect(io.stdout).toMatch(/^postgres-router \(haproxy\): added, sha256:[0-9a-f]{12}$/m);
    expect(io.stdout).toMatch(/^router \(haproxy\): removed, was sha256:[0-9a-f]{12}$/m);
    // The rendered allowlist and squid.conf are byte-identical: only the model (which names the file) changed.
    expect(io.stdout).toMatch(/^egress \(squid\): changed, .*\n {4}service\.json: changed \(the service's model; no rendered file changed\)$/m);
    expect(io.stdout).toContain("4 services: 1 added, 1 removed, 1 changed, 1 unchanged");
  });

  it("a deleted service shows as removed, and the DNS names only it used are listed as no longer used", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    const withoutRouter = FLEET.replace(/ {2}router:\n(?: {4}.*\n)+/, "");
    await commitOn(repo, "drop-router", { "fleet.yaml": withoutRouter });
    const io = capture();

    expect(await main(["diff", repo.dir, "main..drop-router"], io)).toBe(0);

    expect(io.stdout).toMatch(/^router \(haproxy\): removed, was sha256:[0-9a-f]{12}$/m);
    expect(io.stdout).toContain("    --- a/router/haproxy.cfg\n    +++ /dev/null\n");
    expect(io.stdout).toContain("DNS names no longer used: db1.corp.example.com\n");
  });

  it("allowlists of 10,000 entries: names added and removed, capped with a count, never the whole file", async () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `host-${String(i).padStart(5, "0")}.example.com`);
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": `${names.join("\n")}\n` });
    const next = [...names.slice(100), ...Array.from({ length: 300 }, (_, i) => `new-${String(i).padStart(3, "0")}.example.net`)];
    await commitOn(repo, "allowlist", { "allowlists/egress.txt": `${next.join("\n")}\n` });
    const io = capture();

    expect(await main(["diff", repo.dir, "main..allowlist"], io)).toBe(0);

    expect(io.stdout).toContain("    allowlist.txt: changed, 300 names added, 100 removed (10,200 entries now)\n");
    expect(io.stdout).toContain("    + new-000.example.net\n");
    expect(io.stdout).toContain("    …and 275 more added\n");
    expect(io.stdout).toContain("    - host-00000.example.com\n");
    expect(io.stdout).toContain("    …and 75 more removed\n");
    expect(io.stdout).not.toContain("new-299.example.net");
    expect(io.stdout.split("\n").length).toBeLessThan(80);
  });

  it("an invalid side: its errors with the ref, file and line, and exit 1", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    await commitOn(repo, "broken", { "allowlists/egress.txt": "api.github.com\n*.example.org\n" });
    const io = capture();

    expect(await main(["diff", repo.dir, "main..broken"], io)).toBe(1);

    expect(io.stderr).toContain("broken:allowlists/egress.txt:2:1: error[allowlist-wildcard]");
    expect(io.stderr).toMatch(/^broken \([0-9a-f]{12}\): 1 error\(s\); no diff$/m);
    expect(io.stdout).toBe("");
  });

  it("a symbolic link committed in place of a file is refused at the line naming it, as the folder loader refuses one", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n", "shared/egress.txt": "api.github.com\n" });
    repo.git("checkout", "-q", "-b", "link");
    repo.git("rm", "-q", "allowlists/egress.txt");
    mkdirSync(join(repo.dir, "allowlists"), { recursive: true }); // git rm took the emptied folder
    symlinkSync("../shared/egress.txt", join(repo.dir, "allowlists/egress.txt"));
    repo.git("add", "-A");
    repo.git("commit", "-qm", "link");
    const io = capture();

    expect(await main(["diff", repo.dir, "main..link"], io)).toBe(1);
    expect(io.stderr).toMatch(/^link:fleet\.yaml:\d+:\d+: error\[symlink\]: services\.egress\.allowlist: allowlists\/egress\.txt is a symbolic link in link/m);
  });

  it("a ref that does not exist, or a range without two dots, is a usage error (exit 2)", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    const io = capture();
    expect(await main(["diff", repo.dir, "main..nope"], io)).toBe(2);
    expect(io.stderr).toContain(`nope is not a commit, branch or tag of the git repository ${repo.dir}`);
    expect(await main(["diff", repo.dir, "main...feature"], capture())).toBe(2);
    expect(await main(["diff", repo.dir, "main"], capture())).toBe(2);
  });

  it("--from and --to take a folder or a commit each", async () => {
    const repo = await gitRepo({ "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    await writeTree(repo.dir, { "fleet.yaml": FLEET.replace("api.lattice.example", "api2.lattice.example") }); // uncommitted
    const io = capture();

    expect(await main(["diff", "--from", "main", "--to", repo.dir, repo.dir], io)).toBe(0);

    expect(io.stdout).toMatch(/^ingress \(nginx\): changed/m);
    expect(io.stdout).toContain("    +        api.example.com api2.lattice.example:443;\n");
    expect(io.stdout).toContain("new DNS names: api2.lattice.example\n");
    expect(io.stdout).toContain("DNS names no longer used: api.lattice.example\n");
  });
});

describe("fleet diff <dir> against what is deployed", () => {
  it("compares with the accepted snapshot; a service pinned to an older config is compared as it runs", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pf-diff-"));
    dirs.push(dir);
    await writeTree(dir, { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n"), "allowlists/egress.txt": "api.github.com\n" });
    const accepted = { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" };
    const io = capture();

    expect(await runDiff({ from: "deployed", to: dir }, io, async () => ({ commit: "c0ffee".padEnd(40, "0"), files: accepted }))).toBe(0);
    expect(io.stdout).toMatch(/^fleet diff deployed → /m);
    expect(io.stdout).toMatch(/^router \(haproxy\): changed/m);

    // The router's last deployment failed and runs the older config, which had port 5433 already.
    const pinnedIo = capture();
    const older = { "fleet.yaml": FLEET.replace("port: 5432\n", "port: 5433\n"), "allowlists/egress.txt": "api.github.com\n" };
    await runDiff({ from: "deployed", to: dir }, pinnedIo, async () => ({ commit: "c".repeat(40), files: accepted, pinned: { router: { commit: "b".repeat(40), files: older } } }));
    expect(pinnedIo.stdout).toMatch(/^router \(haproxy\): unchanged/m);
  });

  it("nothing deployed yet: every service is added", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pf-diff-"));
    dirs.push(dir);
    await writeTree(dir, { "fleet.yaml": FLEET, "allowlists/egress.txt": "api.github.com\n" });
    const io = capture();
    expect(await runDiff({ from: "deployed", to: dir }, io, async () => undefined)).toBe(0);
    expect(io.stdout).toContain("3 services: 3 added, 0 removed, 0 changed, 0 unchanged");
  });
});
