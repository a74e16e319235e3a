// Loading fleet.yaml at 500, 2,000 and 5,000 HAProxy listeners: a valid config (the fast reader), the same config
// with one error in its last listener (fast read, then a second one keeping node places to locate it), and the
// positional parse alone (how every load ran before the fast reader; still the path for text outside its subset).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadFleet, type LoadOptions } from "../functions/fleet/load.ts";
import { MemoryTree } from "../functions/fleet/tree.ts";
import { largeConfig } from "../test/support/synth.ts";
import { peakRssMiB, report, spread, type Figure } from "./measure.ts";

const RUNS = 5;

async function timeLoad(files: Record<string, string>, options: LoadOptions, expectOk: boolean) {
  const tree = new MemoryTree(files);
  await loadFleet(tree, options); // warm-up: compiled code, not a cold start, is what is compared
  return spread(RUNS, async () => {
    const result = await loadFleet(tree, options);
    if (result.ok !== expectOk) throw new Error(`benchmark config: expected ok=${expectOk}, got ${JSON.stringify(result).slice(0, 300)}`);
  });
}

const figures = (label: string, times: { min: number; median: number; max: number }): Figure[] => [
  { name: `${label}: min`, value: times.min, unit: "ms" },
  { name: `${label}: median`, value: times.median, unit: "ms" },
  { name: `${label}: max`, value: times.max, unit: "ms" },
];

for (const listeners of [500, 2_000, 5_000]) {
  const dir = largeConfig({ haproxyListeners: listeners });
  const allowlist = readFileSync(join(dir, "allowlists", "egress.txt"), "utf8");
  const valid = readFileSync(join(dir, "fleet.yaml"), "utf8");
  // The last listener takes the first one's port: one duplicate-port error, located near the end of the file.
  const lastPort = `        port: ${10_000 + listeners - 1}\n`;
  const broken = valid.replace(lastPort, "        port: 10000\n");
  if (broken === valid) throw new Error("benchmark config: could not plant the error");
  const files = (text: string) => ({ "fleet.yaml": text, "allowlists/egress.txt": allowlist });

  const fast = await timeLoad(files(valid), {}, true);
  const located = await timeLoad(files(broken), {}, false);
  const positional = await timeLoad(files(valid), { fastParse: false }, true);
  report(`config load, ${listeners.toLocaleString("en")} HAProxy listeners (${(valid.length / 1024).toFixed(0)} KiB fleet.yaml)`, [
    ...figures("valid", fast),
    ...figures("one error, located", located),
    ...figures("valid, positional parse only", positional),
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}
