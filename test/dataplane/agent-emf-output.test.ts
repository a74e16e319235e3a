// The agent's entry point (containers/agent/main.ts) as the image runs it, in a network namespace with the S3
// stand-in (test/containers/harness.ts): its stdout carries EMF lines for the gauges every METRICS_SECONDS
// and for a runtime target change it applied, among its other JSON lines, all for the service it runs.
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { AGENT_METRIC_NAMES } from "../../containers/agent/metrics.ts";
import { waitFor } from "../../containers/agent/process.ts";
import { startAgentProcess } from "../containers/harness.ts";
import { SCENARIOS, worldFor } from "../containers/scenarios.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";

const sandbox = new Sandbox();
afterEach(() => sandbox.cleanup());

interface EmfDocument {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
  [member: string]: unknown;
}

it("HAProxy's agent prints its gauges and the reload a target change caused as EMF lines on stdout", async () => {
  const work = await tempDir("emf-out");
  sandbox.track({ stop: work.cleanup });
  const world = await worldFor("haproxy", sandbox, work.path);
  const task = startAgentProcess(sandbox, world, "haproxy", join(work.path, "task"), { METRICS_SECONDS: "0.2" });
  const emf = () => task.lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Partial<EmfDocument>;
      return parsed._aws ? [parsed as EmfDocument] : [];
    } catch {
      return []; // Node's own warnings on stderr are not JSON
    }
  });
  const explain = () => `agent output:\n${task.lines.slice(-30).join("\n")}`;

  // The scenario's one server has no health check ("no check"): in use, so up.
  await waitFor("a gauge line", () => emf().some((d) => d.BackendsUp === 1), 15_000).catch((e: unknown) => { throw new Error(`${String(e)}\n${explain()}`); });
  await world.setTargets(SCENARIOS.haproxy.after);
  await waitFor("the apply's counters", () => emf().some((d) => d.TargetApplies === 1 && d.Reloads === 1), 15_000)
    .catch((e: unknown) => { throw new Error(`${String(e)}\n${explain()}`); });
  expect(await task.stop()).toBe(0);

  for (const document of emf()) {
    const [directive] = document._aws.CloudWatchMetrics;
    expect(directive!.Namespace).toBe("ProxyFleet");
    expect(directive!.Dimensions).toEqual([["Service"]]);
    expect(document.Service).toBe(world.service);
    for (const { Name } of directive!.Metrics) expect(AGENT_METRIC_NAMES).toContain(Name);
  }
  // Nothing was refused and the daemon never died behind the agent's back.
  expect(emf().filter((d) => d.RefusedCandidates !== undefined || d.DaemonRestarts !== undefined)).toEqual([]);
}, 90_000);
