// The corpus of bad configs: each is rejected with the expected file, line and rule, and nothing renders.
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../functions/cli/fleet.ts";
import { loadFleet } from "../../functions/fleet/load.ts";
import { LIBRARY_PHRASES } from "../../functions/fleet/messages.ts";
import { MemoryTree } from "../../functions/fleet/tree.ts";
import { writeTree } from "../support/tree.ts";
import { CASES, squid } from "./bad-config-cases.ts";

describe("bad configs are rejected with file, line and rule", () => {
  it("the corpus is large enough to mean something", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const result = await loadFleet(new MemoryTree(c.files));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors.map((e) => `${e.file}:${e.line} ${e.rule}`)).toEqual(c.errors);
      expect(result.errors[0]!.message).toContain(c.message);
      for (const e of result.errors) expect(e.column).toBeGreaterThanOrEqual(1);
    });
  }
});

describe("messages speak the project's words", () => {
  it("no message of the corpus carries the validation library's phrasing, and each names a field or a file's line", async () => {
    const messages: string[] = [];
    for (const c of CASES) {
      const result = await loadFleet(new MemoryTree(c.files));
      if (!result.ok) messages.push(...result.errors.map((e) => `${e.file}:${e.line} ${e.message}`));
    }
    expect(messages.length).toBeGreaterThanOrEqual(CASES.length);
    for (const message of messages) {
      for (const phrase of LIBRARY_PHRASES) expect(message, message).not.toMatch(phrase);
      // No raw control bytes reach a terminal.
      // eslint-disable-next-line no-control-regex
      expect(message).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    }
  });

  it("an alias bomb is a located config error: fleet validate exits 1, not 2", async () => {
    const bomb = CASES.find((c) => c.name === "YAML alias bomb")!;
    const repo = await mkdtemp(join(tmpdir(), "pf-bomb-"));
    await writeTree(repo, bomb.files);
    const err: string[] = [];
    expect(await main(["validate", repo], { out: () => undefined, err: (text) => err.push(text) })).toBe(1);
    expect(err.join("")).toContain(`${join(repo, "fleet.yaml")}:3:`);
  });
});

describe("fleet render writes nothing for a rejected config", () => {
  it("leaves the output folder absent, and an earlier good render untouched", async () => {
    const base = await mkdtemp(join(tmpdir(), "pf-bad-"));
    const out = join(base, "out");
    const good = join(base, "good");
    await writeTree(good, squid("", "example.com\n"));
    const io = { out: () => undefined, err: () => undefined };
    expect(await main(["render", good, "--out", out], io)).toBe(0);
    const before = await readdir(out, { recursive: true });

    for (const c of CASES) {
      const repo = join(base, c.name.replace(/\W+/g, "-"));
      await writeTree(repo, c.files);
      expect(await main(["render", repo, "--out", join(base, "never")], io), c.name).toBe(1);
      expect(await main(["render", repo, "--out", out], io), c.name).toBe(1);
    }
    await expect(readdir(join(base, "never"))).rejects.toThrow(/ENOENT/);
    expect(await readdir(out, { recursive: true })).toEqual(before);
  });
});
