// The DNS loop at 1k / 10k / 50k / 100k hostnames (100 per NLB target group, 5 addresses each), with
// 10 ms per DynamoDB call, 50 ms per ELB call and 20 ms per S3 call (bench/dns-world.ts), as a cold start
// (every name looked up): a run where nothing changed, one where every group is due for its full check,
// and one where 1% of the names drift. Each run is a process of its own (its peak memory is its own),
// repeated; prints min / median / max of each figure per size and scenario.
//   DNS_BENCH_SIZES=1000,10000  DNS_BENCH_RUNS=3  (defaults: 1000,10000,50000,100000 and 3)
//   DNS_BENCH_OLD_SPACE_MB: V8's old space (--max-old-space-size); by default DNS_SYNC_OLD_SPACE_MB, the cap the
//   function is deployed with (stacks/Reconcilers.ts sets it through NODE_OPTIONS); 0 runs uncapped
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { DNS_SYNC_OLD_SPACE_MB } from "../functions/dns/sync.ts";
import { SCENARIOS } from "./dns-fixture.ts";
import { LATENCY_MS } from "./dns-world.ts";
import { report, type Figure } from "./measure.ts";

const sizes = (process.env.DNS_BENCH_SIZES ?? "1000,10000,50000,100000").split(",").map(Number);
const runs = Number(process.env.DNS_BENCH_RUNS ?? 3);
const oldSpaceMb = Number(process.env.DNS_BENCH_OLD_SPACE_MB ?? DNS_SYNC_OLD_SPACE_MB);
const nodeFlags = ["--expose-gc", ...(oldSpaceMb > 0 ? [`--max-old-space-size=${oldSpaceMb}`] : [])];
const UNITS: Record<string, string> = {
  "peak RSS (run)": "MiB", "RSS before the run (world + code)": "MiB", "loop's own peak (peak RSS - RSS before the run)": "MiB",
  "peak without the fake world (code RSS + loop's own peak)": "MiB", "RSS of the code (Node.js, loop, SDK)": "MiB", wall: "ms", CPU: "ms",
};

const ordered = (values: number[]) => [...values].sort((a, b) => a - b);

for (const hosts of sizes) {
  for (const scenario of SCENARIOS) {
    const samples: Array<Record<string, number>> = [];
    for (let i = 0; i < runs; i++) {
      const output = execFileSync(process.execPath, [...nodeFlags, join(import.meta.dirname, "dns-one-run.ts"), String(hosts), scenario], {
        encoding: "utf8", stdio: ["ignore", "pipe", "inherit"],
      });
      samples.push((JSON.parse(output) as { figures: Record<string, number> }).figures);
    }
    const figures: Figure[] = Object.keys(samples[0]!).flatMap((name) => {
      const values = ordered(samples.map((s) => s[name]!));
      const unit = UNITS[name] ?? "";
      return [
        { name: `${name} min`, value: values[0]!, unit },
        { name: `${name} median`, value: values[Math.floor(values.length / 2)]!, unit },
        { name: `${name} max`, value: values[values.length - 1]!, unit },
      ];
    });
    const latency = Object.entries(LATENCY_MS).map(([service, ms]) => `${service} ${ms} ms`).join(", ");
    const cap = oldSpaceMb > 0 ? `; V8 old space ${oldSpaceMb} MB` : "; V8 old space uncapped";
    report(`dns-sync, ${hosts.toLocaleString("en")} hostnames / ${(hosts * 5).toLocaleString("en")} targets, cold start, ${scenario} (${latency}; ${runs} runs${cap})`, figures);
  }
}
