// A Squid service with a 10,000- and a 100,000-domain allowlist: the allowlist parse alone (in file order and
// shuffled, which makes the final sort work harder), load + validate, render + hash, and squid's own parse.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSquid } from "../containers/agent/checks.ts";
import { parseAllowlist } from "../functions/fleet/allowlist.ts";
import { loadFleet, type FleetModel } from "../functions/fleet/load.ts";
import { MemoryTree } from "../functions/fleet/tree.ts";
import { renderFleet } from "../functions/render/bundle.ts";
import { contextWith } from "../functions/render/context.ts";
import { renderSquid } from "../functions/render/squid.ts";
import { peakRssMiB, report, spread, type Figure } from "./measure.ts";

const RUNS = 5;
/** squid -k parse takes seconds on the largest list: it runs once per size, on the smaller one only. */
const SQUID_PARSE_UP_TO = 10_000;

const figures = (label: string, times: { min: number; median: number; max: number }): Figure[] => [
  { name: `${label}: min`, value: times.min, unit: "ms" },
  { name: `${label}: median`, value: times.median, unit: "ms" },
  { name: `${label}: max`, value: times.max, unit: "ms" },
];

/** Deterministic shuffle (a fixed linear congruential sequence), so every run sorts the same input. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let seed = 12345;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

for (const domains of [10_000, 100_000]) {
  const lines = Array.from({ length: domains }, (_, i) => (i % 10 === 0 ? `.svc-${i}.example.com` : `host-${i}.partner-${i % 97}.example.net`));
  const allowlist = lines.join("\n") + "\n";
  const shuffledList = shuffled(lines).join("\n") + "\n";
  const tree = new MemoryTree({
    "fleet.yaml": "version: 1\nservices:\n  egress:\n    kind: squid\n    allowlist: allow.txt\n    allowedSources: [10.0.0.0/8]\n",
    "allow.txt": allowlist,
  });

  // Warm-up: the first runs at 100k lines also grow the heap; the figures are for a process already running.
  for (let i = 0; i < 3; i++) parseAllowlist(i % 2 === 0 ? allowlist : shuffledList);
  const parse = await spread(RUNS, () => parseAllowlist(allowlist));
  const parseShuffled = await spread(RUNS, () => parseAllowlist(shuffledList));
  let model: FleetModel | undefined;
  const load = await spread(RUNS, async () => {
    const result = await loadFleet(tree);
    if (!result.ok) throw new Error("benchmark config is invalid");
    model = result.model;
  });
  const render = await spread(RUNS, () => renderFleet(model!));
  const dir = await mkdtemp(join(tmpdir(), "pf-bench-"));
  const service = model!.services[0]!;
  if (service.kind !== "squid") throw new Error("expected a squid service");
  const files = renderSquid(service, contextWith({ bundleDir: dir, runDir: dir, logDir: dir }));
  const squidParse: Figure[] = [];
  if (domains <= SQUID_PARSE_UP_TO) {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    let parsedOk = false;
    const squid = await spread(3, async () => (parsedOk = (await checkSquid(join(dir, "squid.conf"))).ok));
    if (!parsedOk) throw new Error("squid -k parse refused the rendered allowlist");
    squidParse.push({ name: "squid -k parse: median", value: squid.median, unit: "ms" });
  }

  report(`squid allowlist of ${domains.toLocaleString("en")} domains`, [
    ...figures("parse", parse),
    ...figures("parse, lines shuffled", parseShuffled),
    ...figures("load + validate", load),
    ...figures("render + hash", render),
    ...squidParse,
    { name: "allowlist.txt", value: Buffer.byteLength(files["allowlist.txt"]!) / 1024, unit: "KiB" },
    { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
  ]);
}
