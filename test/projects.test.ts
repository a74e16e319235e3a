// The split of the suite in vitest.config.ts: every test file belongs to exactly one project, and no file of the
// parallel unit projects reaches for a port, a daemon or a network namespace (those run one file at a time).
import { globSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import config from "../vitest.config.ts";

const ROOT = join(import.meta.dirname, "..");

interface ProjectTest {
  readonly name: string;
  readonly include: string[];
  readonly exclude?: string[];
}

const projects = (config.test?.projects ?? []).map((project) => (project as { test: ProjectTest }).test);
const files = (patterns: readonly string[]) => new Set(patterns.flatMap((pattern) => globSync(pattern, { cwd: ROOT })));
const membersOf = (project: ProjectTest) => {
  const excluded = files(project.exclude ?? []);
  return [...files(project.include)].filter((file) => !excluded.has(file));
};

/** What a file that binds ports, runs daemons or builds namespaces imports or calls. */
const NOT_FOR_PARALLEL = [
  /support\/(dns-server|net|netns-client|sandbox|tcp-tool|ipsec-sites|preflight)\.ts/, /from "node:(net|http|https|dgram)"/,
  /\.listen\(/, /createServer\(/, /ip netns|netns/, /\b(haproxy|nginx|squid|charon|swanctl|iptables)\b.*spawn|spawn\(["'](haproxy|nginx|squid)/,
  /synth(App)?\(/, /chromium|playwright/,
];

describe("test projects", () => {
  it("hold every test file exactly once", () => {
    const all = [...files(["test/**/*.test.ts"])].sort();
    const memberships = projects.flatMap((project) => membersOf(project));
    expect(memberships.sort()).toEqual(all);
    expect(projects.map((p) => p.name)).toEqual(["unit", "unit-mocks", "stacks", "dataplane"]);
  });

  it("run no file in parallel that binds a port, starts a daemon or creates a network namespace", () => {
    // This file names the patterns itself.
    const parallel = projects.filter((p) => p.name.startsWith("unit")).flatMap(membersOf).filter((file) => file !== "test/projects.test.ts");
    expect(parallel.length).toBeGreaterThan(20);
    for (const file of parallel) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const pattern of NOT_FOR_PARALLEL) expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
    }
  });

  it("run beside the data-plane tests only stack files that synthesize and nothing else", () => {
    // The stacks project runs while the unit projects do: it may synthesize, but never bind or start anything.
    const stacks = projects.filter((p) => p.name === "stacks").flatMap(membersOf);
    expect(stacks.length).toBeGreaterThan(5);
    const synthesis = /synth(App)?\(/.source;
    for (const file of stacks) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const pattern of NOT_FOR_PARALLEL.filter((p) => p.source !== synthesis)) expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
    }
  });
});
