// The local heal drill, for real: the example's strongSwan service (datacenter-vpn: an IKEv2 and an IKEv1
// connection) on a namespace instance with its simulated peer sites; each drill kills the instance, the heal loop
// moves the persistent ENI to a replacement namespace, the service starts there, and the drill ends when both
// tunnels carry a TCP probe from the peer's network again. Prints loss → tunnel up (min / median / max over the
// drills) and each step's median time since the loss, as the board records them. Root; run under
// flock /tmp/proxy-fleet-dataplane.lock.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadFleet } from "../functions/fleet/load.ts";
import type { ServiceModelOf } from "../functions/fleet/load.ts";
import { DirectoryTree } from "../functions/fleet/tree.ts";
import { StatusBoard } from "../functions/local/status.ts";
import { startLocalVpn } from "../functions/local/vpn.ts";
import { peakRssMiB, report, type Figure } from "./measure.ts";

const DRILLS = 5;
const STEPS = ["detection", "namespace start", "ENI attach", "service start", "IKE up"] as const;

const examples = join(import.meta.dirname, "../examples");
const loaded = await loadFleet(new DirectoryTree(examples));
if (!loaded.ok) throw new Error(`examples/ does not load: ${JSON.stringify(loaded.errors)}`);
const service = loaded.model.services.find((s) => s.name === "datacenter-vpn") as ServiceModelOf<"strongswan">;
const hosts = parseYaml(await readFile(join(examples, "local-hosts.yaml"), "utf8")) as Record<string, string[]>;

const board = new StatusBoard();
const workDir = await mkdtemp(join(tmpdir(), "pf-heal-drill-"));
const vpn = await startLocalVpn(service, { board, workDir, hosts });
const totals: number[] = [];
const steps = new Map<string, number[]>(STEPS.map((step) => [step, []]));
try {
  for (let drill = 0; drill < DRILLS; drill++) {
    const before = new Set(board.snapshot().events);
    const { lossToTunnelUpMs } = await vpn.loseInstance();
    totals.push(lossToTunnelUpMs);
    // The drill's steps as the board has them: "heal drill <service>: <step> (…) +<ms> ms".
    for (const event of board.snapshot().events.filter((e) => e.source === "heal" && !before.has(e))) {
      const match = / drill [^:]+: (.+?)(?: \(.*\))? \+(\d+) ms$/.exec(event.message);
      if (match) steps.get(STEPS.find((s) => match[1]!.startsWith(s)) ?? "")?.push(Number(match[2]));
    }
  }
} finally {
  await vpn.stop();
  await rm(workDir, { recursive: true, force: true });
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const median = (values: number[]) => sorted(values)[Math.floor(values.length / 2)] ?? NaN;
const figures: Figure[] = [
  { name: "loss → tunnel up, min", value: sorted(totals)[0]!, unit: "ms" },
  { name: "loss → tunnel up, median", value: median(totals), unit: "ms" },
  { name: "loss → tunnel up, max", value: sorted(totals).at(-1)!, unit: "ms" },
  ...STEPS.map((step) => ({ name: `${step} (median, since loss)`, value: median(steps.get(step)!), unit: "ms" })),
  { name: "drills", value: DRILLS, unit: "" },
  { name: "peak RSS", value: peakRssMiB(), unit: "MiB" },
];
report("heal drill: strongSwan instance lost → tunnel up, local namespaces (datacenter-vpn, 2 connections)", figures);
