// An HAProxy service with 2,000 TCP listeners (no 5-rule limit): load + validate, render, and haproxy -c.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkHaproxy } from "../containers/agent/checks.ts";
import { loadFleet, type FleetModel } from "../functions/fleet/load.ts";
import { MemoryTree } from "../functions/fleet/tree.ts";
import { renderFleet } from "../functions/render/bundle.ts";
import { contextWith } from "../functions/render/context.ts";
import { renderHaproxy } from "../functions/render/haproxy.ts";
import { median, peakRssMiB, report } from "./measure.ts";

const LISTENERS = 2_000;
const listeners = Array.from({ length: LISTENERS }, (_, i) =>
  `      - { name: l${i}, port: ${10_000 + i}, backends: [{ host: app-${i}.corp.example.com, port: 443 }, { host: 10.${(i >> 8) & 255}.${i & 255}.10, port: 443 }], allowedSources: [10.0.0.0/8] }`);
const tree = new MemoryTree({ "fleet.yaml": `version: 1\nservices:\n  router:\n    kind: haproxy\n    listeners:\n${listeners.join("\n")}\n` });
// Every hostname resolved to two addresses, as the DNS loop would supply them.
const targets = Object.fromEntries(Array.from({ length: LISTENERS }, (_, i) => [`app-${i}.corp.example.com`, [`10.200.${(i >> 8) & 255}.${i & 255}`, `10.201.${(i >> 8) & 255}.${i & 255}`]]));

let model: FleetModel | undefined;
const loadMs = await median(5, async () => {
  const result = await loadFleet(tree);
  if (!result.ok) throw new Error(`benchmark config is invalid: ${JSON.stringify(result.errors.slice(0, 2))}`);
  model = result.model;
});
const renderMs = await median(5, () => renderFleet(model!, contextWith({ targets })));
const dir = await mkdtemp(join(tmpdir(), "pf-bench-"));
const service = model!.services[0]!;
if (service.kind !== "haproxy") throw new Error("expected an haproxy service");
const files = renderHaproxy(service, contextWith({ bundleDir: dir, runDir: dir, listenAddress: "127.0.0.1", targets }));
for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
let checkedOk = false;
const checkMs = await median(3, async () => (checkedOk = (await checkHaproxy(join(dir, "haproxy.cfg"))).ok));
if (!checkedOk) throw new Error("haproxy -c refused the rendered config");

report(`haproxy service with ${LISTENERS.toLocaleString("en")} listeners`, [
  { name: "load + validate", value: loadMs, unit: "ms" },
  { name: "render + hash", value: renderMs, unit: "ms" },
  { name: "haproxy -c", value: checkMs, unit: "ms" },
  { name: "haproxy.cfg", value: Buffer.byteLength(files["haproxy.cfg"]!) / 1024, unit: "KiB" },
  { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
]);
