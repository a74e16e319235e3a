// The heal budget's steps (bench/heal-budget.ts, what bench/heal-timeline.bench.ts draws from) and docs/heal.md
// describe the same timeline: every step is in the doc's table with the same range, and every step says where
// its figure comes from, so neither can drift from the other.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { BUDGET_STEPS, HEAL_PATHS, type HealPath } from "../../bench/heal-budget.ts";

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

  it("gives every step a source and a basis, a non-empty range, and a unique id", () => {
    for (const step of BUDGET_STEPS) {
      expect(step.source.length, step.id).toBeGreaterThan(10);
      expect(["documented", "measured", "assumed"], step.id).toContain(step.basis);
      // A documented or measured step cites its document or measurement; an assumed one says it is assumed.
      if (step.basis === "documented") expect(step.source, step.id).toMatch(/https:\/\/|agent\.go/);
      if (step.basis === "assumed") expect(step.source, step.id).toMatch(/assumed/);
      expect(step.range[0], step.id).toBeGreaterThan(0);
      expect(step.range[1], step.id).toBeGreaterThanOrEqual(step.range[0]);
    }
    expect(new Set(BUDGET_STEPS.map((s) => s.id)).size).toBe(BUDGET_STEPS.length);
  });

  it("the fast path: detection by EC2's event, a running warm instance, the agent restarted, the image on disk — no boot, no status checks, no pull", () => {
    const fast = stepsOf("fast");
    expect(fast).toEqual(expect.arrayContaining(["event-detection", "asg-replaces", "warm-running-leave", "ecs-agent-restart", "task-start", "ike"]));
    for (const gone of ["detection", "cold-boot", "warm-boot", "image-pull", "ecs-agent-poll", "ecs-register"]) expect(fast, gone).not.toContain(gone);
    // The same stack when the instance is impaired but running: only status checks find it.
    expect(new Set(stepsOf("fast-impaired"))).toEqual(new Set([...fast.filter((id) => id !== "event-detection" && id !== "asg-replaces"), "detection"]));
    // A running pool without the restart waits for the agent's once-a-minute look.
    expect(stepsOf("warm-running")).toContain("ecs-agent-poll");
    expect(HEAL_PATHS).toEqual(["cold", "warm-stopped", "warm-running", "fast", "fast-impaired"]);
  });

  it("keeps the cold path (first boot) as the fallback, and the warm path without it", () => {
    expect(stepsOf("cold")).toEqual(expect.arrayContaining(["detection", "cold-launch", "cold-boot", "image-pull", "ike"]));
    expect(stepsOf("warm-stopped")).toEqual(expect.arrayContaining(["detection", "warm-start", "warm-boot", "image-pull", "ike"]));
    expect(stepsOf("warm-stopped")).not.toContain("cold-boot");
    expect(stepsOf("cold")).not.toContain("warm-start");
  });
});
