import { defineConfig } from "vitest/config";

// Five projects in four groups, run one group after another (vitest's sequence.groupOrder):
// - "unit": no daemon, no port, no network namespace, no stack synthesis, and no module-level mock (AWS SDK client
//   mocks, fake timers, process.env or cwd changes): files run in parallel and share workers (isolate: false), so
//   the config model and the renderers are imported once per worker instead of once per file.
// - "unit-mocks": just as pure, but they mock AWS SDK clients, timers or the environment: in parallel, each file in
//   a fresh worker.
// - "namespaced": data-plane tests whose every process and port lives in namespaces they create (NAMESPACED):
//   two at a time.
// - "stacks": stack synthesis, one file at a time.
// - "dataplane": everything else (daemons on fixed loopback ports, network namespaces, DNS test servers, the CLI
//   end to end): one file at a time.
// A test file is in exactly one project: "dataplane" takes every file the lists below do not name, so a new
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
// Data-plane tests that start everything they run inside network namespaces of their own (uniquely named per
// process: containers/agent/netns.ts), with their own files and container names: none of them binds a port,
// runs a charon or touches a rule outside those namespaces, so two of them can run at once.
const NAMESPACED = [
  "test/containers/**/*.test.ts",
  "test/dataplane/{validate-accepts.property,checks,ipsec-tunnel,agent-emf-output,strongswan-emf-output}.test.ts",
];

/**
 * vitest runs the groups (`sequence.groupOrder`) one after another, and all files of a group with one `maxWorkers`:
 * projects of one group whose `maxWorkers` differ stop the run before any test ("Projects … have different
 * 'maxWorkers' but same 'sequence.groupOrder'", vitest's groupSpecs). Its default is the machine's cores less one
 * (one worker on 2 cores, seven on 8), and `fileParallelism: false` makes it one: so each group sets its own, and
 * test/projects.test.ts holds every group to one setting.
 */
const EVERY_CORE = "100%";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { test: { name: "unit", include: UNIT, isolate: false, maxWorkers: EVERY_CORE, sequence: { groupOrder: 0 } } },
      { test: { name: "unit-mocks", include: UNIT_MOCKS, maxWorkers: EVERY_CORE, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: "namespaced",
          include: NAMESPACED,
          globalSetup: ["test/support/preflight.ts"],
          // Two at a time: each is in namespaces of its own, and podman and the daemon checks are CPU-heavy.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      // Stack synthesis binds nothing but is CPU-heavy and imports aws-cdk-lib (~3 s a file): one file at a time,
      // sharing one worker so the CDK and SST are imported once (SST's project files are written in the project).
      // Each synth restores the environment it sets (test/support/synth.ts).
      { test: { name: "stacks", include: STACKS, isolate: false, fileParallelism: false, sequence: { groupOrder: 2 } } },
      {
        test: {
          name: "dataplane",
          include: ["test/**/*.test.ts"],
          exclude: [...UNIT, ...UNIT_MOCKS, ...STACKS, ...NAMESPACED],
          // Fails the run at once, naming the Debian package, when a daemon or module the data-plane tests need is missing.
          globalSetup: ["test/support/preflight.ts"],
          // Daemon tests bind fixed loopback ports and create network namespaces: run files one at a time.
          fileParallelism: false,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
