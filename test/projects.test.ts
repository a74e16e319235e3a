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
  readonly maxWorkers?: number | string;
  readonly fileParallelism?: boolean;
  readonly sequence?: { readonly groupOrder?: number };
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
    expect(projects.map((p) => p.name)).toEqual(["unit", "unit-mocks", "namespaced", "stacks", "dataplane"]);
  });

  it("give every project of a group the same number of workers on any machine", () => {
    // vitest runs a group's files with one maxWorkers and refuses to start when its projects' differ; the default
    // depends on the machine's cores (cores - 1), so a setting that agrees on 2 cores can stop the run on 8.
    const workers = (p: ProjectTest) => (p.fileParallelism === false ? 1 : p.maxWorkers);
    for (const project of projects) expect(workers(project), `${project.name} sets maxWorkers or fileParallelism: false`).toBeDefined();
    const groups = new Map<number, ProjectTest[]>();
    for (const p of projects) groups.set(p.sequence?.groupOrder ?? 0, [...(groups.get(p.sequence?.groupOrder ?? 0) ?? []), p]);
    for (const [order, members] of groups) {
      expect(new Set(members.map(workers)).size, `group ${order}: ${members.map((m) => `${m.name}=${String(workers(m))}`).join(", ")}`).toBe(1);
    }
    // The data-plane tests that bind the host's loopback run one at a time, in a group of their own.
    const dataplane = projects.find((p) => p.name === "dataplane")!;
    expect(workers(dataplane)).toBe(1);
    expect(groups.get(dataplane.sequence?.groupOrder ?? 0)).toEqual([dataplane]);
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

  it("run side by side only namespaced data-plane files that bind nothing outside namespaces of their own", () => {
    // What reaches the host's loopback: a free host port, the test DNS server, a listener of the file's own, a
    // browser, a synthesis. The daemons and tools they start run with `netns` (containers/agent/process.ts).
    const host = [/support\/(dns-server|net)\.ts/, /freePort/, /\.listen\(/, /createServer\(/, /synth(App)?\(/, /chromium|playwright/];
    const namespaced = projects.filter((p) => p.name === "namespaced").flatMap(membersOf);
    expect(namespaced).toEqual(expect.arrayContaining(["test/containers/images.test.ts", "test/dataplane/validate-accepts.property.test.ts"]));
    for (const file of namespaced) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const pattern of host) expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
      // Every daemon the file starts itself is started in a namespace.
      for (const call of text.matchAll(/\b(startDaemon|startCharon)\(([^;]*)/g)) expect(call[2], `${file}: ${call[0].slice(0, 80)}`).toMatch(/netns/);
    }
  });

  it("hold in the stacks project only files that synthesize and nothing else", () => {
    // The stacks project may synthesize, but never bind or start anything.
    const stacks = projects.filter((p) => p.name === "stacks").flatMap(membersOf);
    expect(stacks.length).toBeGreaterThan(5);
    const synthesis = /synth(App)?\(/.source;
    for (const file of stacks) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const pattern of NOT_FOR_PARALLEL.filter((p) => p.source !== synthesis)) expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
    }
  });
});
