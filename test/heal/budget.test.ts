// The heal budget's steps (bench/heal-budget.ts, what bench/heal-timeline.bench.ts draws from) and docs/heal.md
// describe the same timeline: every step is in the doc's table with the same range, and every step says where
// its figure comes from, so neither can drift from the other.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { BUDGET_STEPS, type HealPath } from "../../bench/heal-budget.ts";

const doc = await readFile(new URL("../../docs/heal.md", import.meta.url), "utf8");
const stepsOf = (path: HealPath) => BUDGET_STEPS.filter((s) => !s.paths || s.paths.includes(path)).map((s) => s.id);

describe("heal budget", () => {
  it("lists every step in docs/heal.md with the range the bench draws from", () => {
    for (const step of BUDGET_STEPS) {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${step.id}\``));
      expect(row, step.id).toBeDefined();
      expect(row!.split("|")[2]!.trim(), step.id).toBe(`${step.range[0]}–${step.range[1]}`);
    }
  });

  it("gives every step a source, a non-empty range, and a unique id", () => {
    for (const step of BUDGET_STEPS) {
      expect(step.source.length, step.id).toBeGreaterThan(10);
      expect(step.range[0], step.id).toBeGreaterThan(0);
      expect(step.range[1], step.id).toBeGreaterThanOrEqual(step.range[0]);
    }
    expect(new Set(BUDGET_STEPS.map((s) => s.id)).size).toBe(BUDGET_STEPS.length);
  });

  it("keeps the cold path (first boot) as the fallback, and the warm path without it", () => {
    expect(stepsOf("cold")).toEqual(expect.arrayContaining(["detection", "cold-launch", "cold-boot", "image-pull", "ike"]));
    expect(stepsOf("warm-stopped")).toEqual(expect.arrayContaining(["detection", "warm-start", "warm-boot", "image-pull", "ike"]));
    expect(stepsOf("warm-stopped")).not.toContain("cold-boot");
    expect(stepsOf("cold")).not.toContain("warm-start");
  });
});
