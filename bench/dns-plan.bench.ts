// The DNS loop over 10,000 hostnames / 50,000 targets: a run with 1% drift, then a no-change run.
// Prints CPU time, wall time, peak memory and the AWS calls each run makes, by kind.
import { performance } from "node:perf_hooks";
import { ADDRESSES_PER_HOST, GROUPS, HOSTS_PER_GROUP, convergedWorld } from "./dns-fixture.ts";
import { peakRssMiB, report } from "./measure.ts";

const world = await convergedWorld();
const hosts = GROUPS * HOSTS_PER_GROUP;

// 1% drift: 100 names change. 50 lose an address (two runs ago, so this run is its third miss and it
// goes) and 50 gain one now.
const drifting = Array.from({ length: hosts / 100 }, (_, i) => ({ i, g: i % GROUPS, h: Math.floor(i / GROUPS) * 7 + 1 }));
for (const { g, h } of drifting.filter(({ i }) => i % 2 === 1)) {
  const name = world.host(g, h);
  world.dns.answers.set(name, world.dns.answers.get(name)!.slice(1));
}
await world.run();
await world.run();
for (const { g, h } of drifting.filter(({ i }) => i % 2 === 0)) {
  const name = world.host(g, h);
  world.dns.answers.set(name, [...world.dns.answers.get(name)!, `10.${g}.${h}.200`]);
}

async function measured(label: string) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = await world.run();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const registered = result.targetGroups.reduce((n, g) => n + g.register.length, 0);
  const deregistered = result.targetGroups.reduce((n, g) => n + g.deregister.length, 0);
  report(`dns-sync, ${hosts.toLocaleString("en")} hostnames / ${(hosts * ADDRESSES_PER_HOST).toLocaleString("en")} targets: ${label}`, [
    { name: "CPU (user+system)", value: (used.user + used.system) / 1000, unit: "ms" },
    { name: "wall", value: wallMs, unit: "ms" },
    { name: "targets registered", value: registered, unit: "" },
    { name: "targets deregistered", value: deregistered, unit: "" },
    ...Object.entries(world.calls).sort().map(([api, count]) => ({ name: `calls ${api}`, value: count, unit: "" })),
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}

await measured("1% drift");
await measured("no change");
