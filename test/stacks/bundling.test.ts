// Every loop's Lambda is bundled with LOOP_BUNDLING, the settings bench/bundles.bench.ts builds it with through
// SST's own build: the figures the bench prints are those of the deployed bundles. The whole app is synthesized
// as `sst deploy` would.
import { resolve } from "node:path";
import { Function as SstFunction, getStack, type FunctionProps } from "sst/constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { ALL_STACKS, synthApp } from "../support/synth.ts";
import { LOOP_BUNDLING } from "../../stacks/loops.ts";
import { loopHandlers } from "../../bench/bundling.ts";

let functions: Array<{ id: string; props: FunctionProps }>;

beforeAll(async () => {
  await synthApp();
  functions = ALL_STACKS.flatMap((stack) => getStack(stack as never).node.findAll())
    .filter((c): c is SstFunction => c instanceof SstFunction)
    // The props SST builds the function from (https://v2.sst.dev/constructs/Function#nodejsprops).
    .map((fn) => ({ id: fn.node.id, props: (fn as unknown as { props: FunctionProps }).props }));
}, 300_000);

describe("bundling", () => {
  it("gives every loop the bundling the bench measures, and the bench finds every loop the stacks define", () => {
    const benched = loopHandlers(resolve(import.meta.dirname, "../.."));
    expect(benched.map((l) => l.handler)).toEqual(expect.arrayContaining(["functions/dns-sync.handler", "functions/instance-heal.handler"]));
    for (const { id, handler } of benched) {
      const fn = functions.find((f) => f.id === id);
      expect(fn?.props, id).toMatchObject({ handler });
      expect(fn?.props.nodejs, id).toBe(LOOP_BUNDLING);
    }
    // LOOP_BUNDLING is set by loopFunction only: every function built by it is one the bench builds.
    const loops = functions.filter((f) => f.props.nodejs === LOOP_BUNDLING).map((f) => f.id).sort();
    expect(loops).toEqual(benched.map((l) => l.id).sort());
  });

  it("ships minified ES modules per loop, split where the code imports on demand, the AWS SDK inside them", () => {
    expect(LOOP_BUNDLING).toMatchObject({ format: "esm", minify: true, splitting: true });
    // Nothing is left to the runtime's node_modules: no externals, nothing installed beside the bundle.
    expect(LOOP_BUNDLING.esbuild?.external ?? []).toEqual([]);
    expect(LOOP_BUNDLING.install ?? []).toEqual([]);
  });
});
