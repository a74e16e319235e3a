import { defineConfig } from "vitest/config";

// Three projects, so pure unit tests stop waiting behind the daemon tests:
// - "unit": no daemon, no port, no network namespace, no stack synthesis, and no module-level mock (AWS SDK client
//   mocks, fake timers, process.env or cwd changes): files run in parallel and share workers (isolate: false), so
//   the config model and the renderers are imported once per worker instead of once per file.
// - "unit-mocks": just as pure, but they mock AWS SDK clients, timers or the environment: in parallel, each file in
//   a fresh worker.
// - "dataplane": everything else (daemons on fixed loopback ports, network namespaces, DNS test servers, stack
//   synthesis, the CLI end to end): one file at a time, after both unit projects (groupOrder), as before.
// A test file is in exactly one project: "dataplane" takes every file the two lists below do not name, so a new
// file runs one at a time until it is listed here. Outside test/fleet and test/render (the config model and the
// pure renderers; daemon checks of rendered files live in test/dataplane) files are named one by one, since their
// folders also hold tests that bind ports. A file in a unit list must never bind a port or start a process that
// does. `vitest run --project unit --project unit-mocks` runs the fast part alone.
const UNIT = [
  "test/fleet/**/*.test.ts",
  "test/render/**/*.test.ts",
  "test/diff/{cli,plan,unified}.test.ts",
  "test/dns/{events,fixture,planners,tracker-shortcut,zone}.test.ts",
  "test/agent/metrics.test.ts",
  "test/projects.test.ts",
];
const UNIT_MOCKS = [
  "test/heal/{budget,handler,rounds,timing}.test.ts",
  "test/targets/{handler,lease,plan,sdk-retry}.test.ts",
  "test/rollout/{bundle,cli,handler,limits}.test.ts",
  "test/review/{handler,summary}.test.ts",
  "test/deploy/pin-bundle.test.ts",
  "test/dns/{route53,state-table}.test.ts",
];

const STACKS = ["test/stacks/**/*.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { test: { name: "unit", include: UNIT, isolate: false, sequence: { groupOrder: 0 } } },
      { test: { name: "unit-mocks", include: UNIT_MOCKS, sequence: { groupOrder: 0 } } },
      // Stack synthesis binds nothing but is CPU-heavy and imports aws-cdk-lib (~3 s a file): one file at a time,
      // beside the unit projects, sharing one worker so the CDK and SST are imported once. Each synth restores the
      // environment it sets (test/support/synth.ts).
      { test: { name: "stacks", include: STACKS, isolate: false, fileParallelism: false, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: "dataplane",
          include: ["test/**/*.test.ts"],
          exclude: [...UNIT, ...UNIT_MOCKS, ...STACKS],
          // Fails the run at once, naming the Debian package, when a daemon or module the data-plane tests need is missing.
          globalSetup: ["test/support/preflight.ts"],
          // Daemon tests bind fixed loopback ports and create network namespaces: run files one at a time.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
