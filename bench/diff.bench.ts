// What `fleet diff` and the pull-request review cost on large changes: a 100,000-domain allowlist with 1,000 names
// swapped (summarized as names), a 500-listener HAProxy service with one listener changed (a long file, small
// diff), and the same service with every listener renumbered (the edit-distance guard's worst case), each from two
// loaded models to the formatted text, plus the largest summary comment built from it.
import { diffFleets } from "../functions/diff/fleet.ts";
import { formatDiffText } from "../functions/diff/format.ts";
import { loadFleet, type FleetModel } from "../functions/fleet/load.ts";
import { MemoryTree } from "../functions/fleet/tree.ts";
import { acceptedSummary } from "../functions/review/summary.ts";
import { peakRssMiB, report, spread, type Figure } from "./measure.ts";

const RUNS = 5;

async function model(files: Record<string, string>): Promise<FleetModel> {
  const loaded = await loadFleet(new MemoryTree(files));
  if (!loaded.ok) throw new Error(`benchmark config is invalid: ${loaded.errors[0]!.message}`);
  return loaded.model;
}

const squid = "version: 1\nservices:\n  egress:\n    kind: squid\n    allowlist: allow.txt\n    allowedSources: [10.0.0.0/8]\n";
const names = Array.from({ length: 100_000 }, (_, i) => `host-${i}.partner-${i % 97}.example.net`);
const haproxy = (ports: (l: number) => number) => ["version: 1", "services:", "  router:", "    kind: haproxy", "    listeners:",
  ...Array.from({ length: 500 }, (_, l) => `      - { name: l${l}, port: ${ports(l)}, backends: [{ host: db${l}.corp.example.com, port: ${ports(l)} }] }`)].join("\n") + "\n";

const cases: Array<[string, FleetModel, FleetModel]> = [
  ["allowlist 100,000 names, 1,000 swapped", await model({ "fleet.yaml": squid, "allow.txt": names.join("\n") + "\n" }),
    await model({ "fleet.yaml": squid, "allow.txt": [...names.slice(1_000), ...names.slice(0, 1_000).map((n) => `new-${n}`)].join("\n") + "\n" })],
  ["HAProxy 500 listeners, 1 changed", await model({ "fleet.yaml": haproxy((l) => 10_000 + l) }), await model({ "fleet.yaml": haproxy((l) => (l === 250 ? 9_999 : 10_000 + l)) })],
  ["HAProxy 500 listeners, all renumbered", await model({ "fleet.yaml": haproxy((l) => 10_000 + l) }), await model({ "fleet.yaml": haproxy((l) => 20_000 + l) })],
];

const figures: Figure[] = [];
for (const [label, before, after] of cases) {
  let text = "";
  let comment = "";
  const times = await spread(RUNS, () => {
    const diff = diffFleets(before, after);
    text = formatDiffText(diff);
    comment = acceptedSummary({ sourceCommit: "0".repeat(40), baseline: "the accepted config", localCommand: "fleet diff" }, diff);
  });
  figures.push(
    { name: `${label}: median`, value: times.median, unit: "ms" },
    { name: `${label}: max`, value: times.max, unit: "ms" },
    { name: `${label}: output lines`, value: text.split("\n").length, unit: "" },
    { name: `${label}: comment chars`, value: comment.length, unit: "" },
  );
}
figures.push({ name: "peak RSS", value: peakRssMiB(), unit: "MiB" });
report("fleet diff and review summary on large changes", figures);
