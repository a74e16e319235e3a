// The rollout watch's Lambda bundle, built as `sst deploy` builds it: it carries neither the config loader nor
// the renderers (nor YAML, nor ECS), only English of zod's locales, and it loads and answers. The config
// rollout's bundle, split: YAML is in a chunk of its own that importing the handler does not load, and the
// handler path SST writes points at the entry, which loads with its chunks beside it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAsStack, metafileObserver, withPlugins, type BuiltHandler, type Metafile } from "../../bench/bundling.ts";
import { LOOP_BUNDLING } from "../../stacks/loops.ts";

const ROOT = resolve(import.meta.dirname, "../..");
let out: string;
let file: string;
let inputs: string[];
let watchMetafile: Metafile;
let rollout: BuiltHandler;
let probe: string;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), "proxy-fleet-watch-bundle-"));
  let metafile: Metafile | undefined;
  const cwd = process.cwd();
  process.chdir(ROOT); // SST resolves the handler and sst.config.ts from the project root
  try {
    ({ file } = await buildAsStack("functions/rollout-watch.handler", withPlugins(LOOP_BUNDLING, metafileObserver((m) => { metafile = m; })), out, "watch"));
    rollout = await buildAsStack("functions/config-rollout.handler", LOOP_BUNDLING, join(out, "rollout"), "rollout");
    probe = (await buildAsStack("test/support/http-require-probe.handler", LOOP_BUNDLING, join(out, "probe"), "probe")).file;
  } finally {
    process.chdir(cwd);
  }
  inputs = Object.values(metafile!.outputs).flatMap((o) => Object.keys(o.inputs));
  watchMetafile = metafile!;
}, 240_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("the rollout watch's bundle", () => {
  it("holds neither the config loader, the renderers, YAML nor the ECS client", () => {
    expect(inputs).toContain("functions/rollout/watch.ts");
    expect(inputs.filter((i) => /^functions\/(fleet\/load|render\/)|node_modules\/(yaml|@aws-sdk\/client-ecs)\//.test(i))).toEqual([]);
  });

  it("holds only the SDK shapes it uses, and none of zod's JSON Schema conversion", () => {
    // Every JavaScript file of the watch's build.
    const shipped = Object.keys(watchMetafile.outputs).filter((path) => path.endsWith(".mjs"))
      .map((path) => readFileSync(resolve(ROOT, path), "utf8")).join("\n");
    // CodeCommit's schema module holds every operation's shapes; the watch comments on a commit and calls nothing else.
    expect(shipped).toContain("PostCommentForComparedCommitInput");
    expect(shipped).not.toContain("CreateApprovalRuleTemplateInput");
    expect(shipped).not.toContain("MergeBranchesByThreeWayInput");
    expect(inputs.filter((i) => /node_modules\/zod\/v4\/classic\/from-json-schema\.js$/.test(i))).toEqual([]);
  });

  it("holds zod's English locale and no other", () => {
    // zod's own locale files: English is its default; the others hang off the `z` namespace object, which no
    // module of the bundle imports whole (Powertools' parser's `import { z }` is rewritten by the bundling).
    const locales = inputs.filter((i) => /^node_modules\/zod\/v4\/locales\/[^/]+\.js$/.test(i)).map((i) => i.split("/").pop());
    expect(locales).toEqual(["en.js"]);
  });

  it("loads, and answers a malformed event without calling anything", async () => {
    Object.assign(process.env, { AWS_REGION: "us-east-1", POWERTOOLS_TRACE_ENABLED: "false", POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "SILENT" });
    const { handler } = await import(file) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
    await expect(handler({ "detail-type": "something else" }, { functionName: "rollout-watch", awsRequestId: "r" })).resolves.toEqual({ rejected: true });
  });
});

describe("the config rollout's bundle, split", () => {
  const inputsOf = (files: readonly string[]) => Object.entries(rollout.metafile.outputs)
    .filter(([path]) => files.includes(resolve(ROOT, path))).flatMap(([, output]) => Object.keys(output.inputs));

  it("loads YAML and the positional parse only on demand", () => {
    expect(rollout.file).toBe(join(out, "rollout", "functions", "config-rollout.mjs"));
    expect(inputsOf(rollout.loadedAtInit)).toContain("functions/fleet/load.ts");
    expect(inputsOf(rollout.loadedAtInit).filter((i) => /^functions\/fleet\/yaml-positional\.ts$|node_modules\/yaml\//.test(i))).toEqual([]);
    expect(inputsOf(rollout.lazy)).toContain("functions/fleet/yaml-positional.ts");
    expect(inputsOf(rollout.lazy).some((i) => i.startsWith("node_modules/yaml/"))).toBe(true);
  });

  it("loads from the handler path SST writes, and its on-demand chunks load beside it", async () => {
    Object.assign(process.env, { AWS_REGION: "us-east-1", POWERTOOLS_TRACE_ENABLED: "false", POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "SILENT" });
    const { handler } = await import(rollout.file) as { handler: unknown };
    expect(typeof handler).toBe("function");
    const positional = rollout.lazy.find((f) => /yaml-positional-[^/]*\.mjs$/.test(f));
    // A chunk's exports are named by the minifier: what matters is that it and the chunks it imports load.
    expect(Object.keys(await import(positional!) as object).length).toBeGreaterThan(0);
  });
});

describe("packages in a bundle", () => {
  /** Package name → the folders its bundled code comes from (more than one: a copy per version npm could not hoist). */
  const copies = (metafile: Metafile) => {
    const found = new Map<string, Set<string>>();
    for (const output of Object.values(metafile.outputs)) {
      for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
        // Files only: a plugin's module ("namespace:path") is no copy of a package.
        const m = /^([^:]*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
        if (m && bytesInOutput > 0) found.set(m[2]!, (found.get(m[2]!) ?? new Set()).add(m[1]!));
      }
    }
    return [...found].filter(([, folders]) => folders.size > 1).map(([name, folders]) => `${name}: ${[...folders].join(", ")}`);
  };

  it("come in one copy each (the SDK's signers are direct dependencies so that npm hoists the version the clients use)", () => {
    expect(copies(watchMetafile)).toEqual([]);
    expect(copies(rollout.metafile)).toEqual([]);
  });
});

describe("the X-Ray SDK's semver", () => {
  it("is gte alone, the one function the X-Ray SDK calls", () => {
    const xray = join(ROOT, "node_modules/aws-xray-sdk-core/dist/lib");
    const callers = readdirSync(xray, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js"))
      .map((f) => readFileSync(join(xray, f), "utf8")).filter((source) => /require\(['"]semver['"]\)/.test(source));
    expect(callers.length).toBeGreaterThan(0);
    expect(new Set(callers.flatMap((source) => [...source.matchAll(/\bsemver\.(\w+)/g)].map((m) => m[1])))).toEqual(new Set(["gte"]));
    expect(inputs).toContain("node_modules/semver/functions/gte.js");
    expect(inputs.filter((i) => /node_modules\/semver\/(classes\/range|ranges\/)/.test(i))).toEqual([]);
  });
});

describe("node:http in a bundle", () => {
  it("is required, not imported as an ES module: undici is not loaded, and default and named imports both work", () => {
    // A fresh process: this one has loaded undici already (vitest, fetch).
    const script = `const { handler } = await import(${JSON.stringify(`file://${probe}`)}); process.stdout.write(JSON.stringify(await handler()));`;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(child.stderr).toBe("");
    expect(JSON.parse(child.stdout)).toEqual({ status: 200, body: "pong", undiciLoaded: false });
    expect(readFileSync(probe, "utf8")).not.toMatch(/from\s*"(node:)?http"/);
  });
});
