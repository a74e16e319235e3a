// The fleet command as a user runs it.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { HELP, jsonSchema, main } from "../functions/cli/fleet.ts";
import { EXAMPLES_DIR } from "./support/fixtures.ts";
import { writeTree } from "./support/tree.ts";

const FLEET = resolve(import.meta.dirname, "../bin/fleet");

function capture() {
  const io = { stdout: "", stderr: "", out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

describe("fleet validate", () => {
  it("exits 0 for the example and prints its warnings with the repository path", async () => {
    const io = capture();
    expect(await main(["validate", EXAMPLES_DIR], io)).toBe(0);
    expect(io.stdout).toBe(`${EXAMPLES_DIR}: valid\n`);
    expect(io.stderr).toMatch(new RegExp(`${join(EXAMPLES_DIR, "fleet.yaml")}:\\d+:50: warning\\[weak-algorithm\\]: sha1 is weak`));
  });

  it("exits 1 and lists every error as file:line:column", async () => {
    const repo = await mkdtemp(join(tmpdir(), "pf-cli-"));
    await writeTree(repo, {
      "fleet.yaml": "version: 1\nservices:\n  e:\n    kind: squid\n    allowlist: a.txt\n    allowedSources: [10.0.0.1/8]\n",
      "a.txt": "ok.example.com\n*.example.org\n",
    });
    const io = capture();
    expect(await main(["validate", repo], io)).toBe(1);
    expect(io.stderr.trim().split("\n")).toEqual([
      `${join(repo, "a.txt")}:2:1: error[allowlist-wildcard]: "*.example.org": write ".example.org" to allow example.org and all its subdomains`,
      `${join(repo, "fleet.yaml")}:6:22: error[cidr]: services.e.allowedSources.0: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)`,
      "2 error(s); nothing was rendered",
    ]);
  });

  it("exits 2 with the usage on a bad command line", async () => {
    const io = capture();
    expect(await main(["validate"], io)).toBe(2);
    expect(await main(["frobnicate", "x"], io)).toBe(2);
    expect(io.stderr).toContain("Usage:");
  });
});

describe("fleet render", () => {
  it("writes one folder per service and a manifest whose hashes match the printed ones", async () => {
    const out = join(await mkdtemp(join(tmpdir(), "pf-cli-")), "out");
    const io = capture();
    expect(await main(["render", EXAMPLES_DIR, "--out", out], io)).toBe(0);
    expect((await readdir(out)).sort()).toEqual(["datacenter-vpn", "egress", "lattice-ingress", "manifest.json", "onprem-router", "partner-forward"]);
    const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8")) as { services: Record<string, { hash: string; files: string[] }> };
    for (const line of io.stdout.trim().split("\n")) {
      const [name, , hash] = line.split(" ");
      expect(manifest.services[name!]!.hash).toBe(hash);
    }
    expect(manifest.services.egress!.files).toEqual(["allowlist.txt", "service.json", "squid.conf", "vpce-id-helper.sh"]);
    expect(await readFile(join(out, "egress", "squid.conf"), "utf8")).toContain('"/etc/proxy-fleet/bundle/allowlist.txt"');
  });
});

describe("the fleet executable", () => {
  it("runs on the project's Node.js 22 and its --help matches the documented usage", async () => {
    const { stdout } = await promisify(execFile)(FLEET, ["--help"]);
    expect(stdout).toBe(HELP);
    const readme = await readFile(resolve(import.meta.dirname, "../README.md"), "utf8");
    // The README shows the usage exactly as --help prints it.
    expect(readme).toContain(HELP.split("Usage:\n")[1]!.split("\n\n")[0]!.trimEnd());
  });
});

describe("fleet schema", () => {
  it("the committed JSON Schema is the one the code generates", async () => {
    const committed = JSON.parse(await readFile(resolve(import.meta.dirname, "../schema/fleet.schema.json"), "utf8"));
    expect(committed).toEqual(jsonSchema());
    expect(Object.keys((committed as { properties: object }).properties)).toEqual(["version", "dns", "targetGroups", "services"]);
  });
});
