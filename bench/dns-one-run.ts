// One DNS-loop run in a process of its own: `node --expose-gc bench/dns-one-run.ts <hosts> <scenario> [profile.cpuprofile]`.
// Seeds the world (bench/dns-world.ts), resets the peak-memory mark, runs the loop as a cold start (every
// name due), checks the run did what the scenario needs (a full check describes at most MAX_FULL_CHECKS
// groups, the most overdue), and prints one JSON line of figures.
// With a third argument, writes a CPU profile of the run alone (summarize it with bench/profile-summary.ts).
import { writeFileSync, readFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import { MAX_FULL_CHECKS, syncDns } from "../functions/dns/sync.ts";
import { groupCount, SCENARIOS, type Scenario } from "./dns-fixture.ts";
import { seedWorld, type Service } from "./dns-world.ts";

const [hostsArg, scenarioArg, profilePath] = process.argv.slice(2);
const hosts = Number(hostsArg);
const scenario = scenarioArg as Scenario;
if (!Number.isInteger(hosts) || hosts <= 0 || !SCENARIOS.includes(scenario)) {
  throw new Error(`usage: dns-one-run.ts <hosts> <${SCENARIOS.join(" | ")}> [profile.cpuprofile]`);
}

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
/** VmHWM: the peak resident size since the mark was last reset. */
const peakMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;

const now = Date.parse("2026-11-26T12:00:00Z");
(globalThis as { gc?: () => void }).gc?.();
const codeMiB = rssMiB(); // Node.js, the loop's code and the SDK, loaded; no fake world yet
const { aws, ports } = seedWorld(hosts, scenario, now);
(globalThis as { gc?: () => void }).gc?.();
const worldMiB = rssMiB();
writeFileSync("/proc/self/clear_refs", "5"); // the peak from here on is the run's

const session = profilePath ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
}
const cpu = process.cpuUsage();
const start = performance.now();
const report = await syncDns({ scope: "due" }, ports, { now, runId: "bench" });
const wallMs = performance.now() - start;
const used = process.cpuUsage(cpu);
const runPeakMiB = peakMiB();
if (session) {
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(profilePath!, JSON.stringify(profile));
  session.disconnect();
}

const groups = groupCount(hosts);
const registered = report.targetGroups.reduce((n, g) => n + g.register.length, 0);
const deregistered = report.targetGroups.reduce((n, g) => n + g.deregister.length, 0);
const described = aws.calls["ELB DescribeTargetHealth"] ?? 0;
// The run must have done what the scenario needs, or its figures mean nothing.
const expected: Record<Scenario, boolean> = {
  "no change": aws.writes === 0 && registered + deregistered === 0,
  "full check": aws.writes === 0 && described === Math.min(groups, MAX_FULL_CHECKS),
  "1% drift": registered === Math.ceil(groups / 2) && deregistered === Math.floor(groups / 2),
};
if (report.looked.length !== hosts || !expected[scenario]) {
  throw new Error(`bench/dns-one-run.ts: ${hosts} hosts, ${scenario}: looked ${report.looked.length}, registered ${registered}, deregistered ${deregistered}, writes ${aws.writes}, described ${described}`);
}

const services: Service[] = ["DynamoDB", "ELB", "S3"];
process.stdout.write(JSON.stringify({
  hosts, scenario,
  figures: {
    "peak RSS (run)": runPeakMiB,
    "RSS before the run (world + code)": worldMiB,
    // What the loop adds on top of the seeded fake AWS world and the loaded code: the figure the function pays.
    "loop's own peak (peak RSS - RSS before the run)": runPeakMiB - worldMiB,
    // The function holds the code but no fake world: an estimate of its peak (the heap's collections differ a little
    // with the world's objects in it), the figure to hold against the 512 MB function and the 300 MB goal.
    "peak without the fake world (code RSS + loop's own peak)": codeMiB + runPeakMiB - worldMiB,
    "RSS of the code (Node.js, loop, SDK)": codeMiB,
    wall: wallMs,
    CPU: (used.user + used.system) / 1000,
    ...Object.fromEntries(services.map((s) => [`round trips ${s}`, aws.roundTrips(s)])),
    "calls DescribeTargetHealth": described,
    "calls (all)": Object.values(aws.calls).reduce((a, b) => a + b, 0),
    writes: aws.writes,
    "targets registered": registered,
    "targets deregistered": deregistered,
  },
}) + "\n");
