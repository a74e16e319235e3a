// A Squid service with a 10,000-domain allowlist: load + validate, render, hash, and squid's own parse.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSquid } from "../containers/agent/checks.ts";
import { loadFleet, type FleetModel } from "../functions/fleet/load.ts";
import { MemoryTree } from "../functions/fleet/tree.ts";
import { renderFleet } from "../functions/render/bundle.ts";
import { contextWith } from "../functions/render/context.ts";
import { renderSquid } from "../functions/render/squid.ts";
import { median, peakRssMiB, report } from "./measure.ts";

const DOMAINS = 10_000;
const allowlist = Array.from({ length: DOMAINS }, (_, i) => (i % 10 === 0 ? `.svc-${i}.example.com` : `host-${i}.partner-${i % 97}.example.net`)).join("\n") + "\n";
const tree = new MemoryTree({
  "fleet.yaml": "version: 1\nservices:\n  egress:\n    kind: squid\n    allowlist: allow.txt\n    allowedSources: [10.0.0.0/8]\n",
  "allow.txt": allowlist,
});

let model: FleetModel | undefined;
const loadMs = await median(7, async () => {
  const result = await loadFleet(tree);
  if (!result.ok) throw new Error("benchmark config is invalid");
  model = result.model;
});
const renderMs = await median(7, () => renderFleet(model!));
const dir = await mkdtemp(join(tmpdir(), "pf-bench-"));
const service = model!.services[0]!;
if (service.kind !== "squid") throw new Error("expected a squid service");
const files = renderSquid(service, contextWith({ bundleDir: dir, runDir: dir, logDir: dir }));
for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
let parsedOk = false;
const squidParseMs = await median(3, async () => (parsedOk = (await checkSquid(join(dir, "squid.conf"))).ok));
if (!parsedOk) throw new Error("squid -k parse refused the rendered allowlist");

report(`squid allowlist of ${DOMAINS.toLocaleString("en")} domains`, [
  { name: "load + validate", value: loadMs, unit: "ms" },
  { name: "render + hash", value: renderMs, unit: "ms" },
  { name: "squid -k parse", value: squidParseMs, unit: "ms" },
  { name: "allowlist.txt", value: Buffer.byteLength(files["allowlist.txt"]!) / 1024, unit: "KiB" },
  { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
]);
