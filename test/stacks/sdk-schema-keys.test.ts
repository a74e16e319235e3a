// The loops' bundling rewrites the AWS SDK's schema modules (literal keys instead of computed ones, so that
// SST's esbuild can leave out the shapes a handler does not use: stacks/loops.ts, literalSchemaKeys). The
// rewrite must not change a single value: every schema module the loops can bundle is built twice with SST's
// own esbuild, as shipped and rewritten, both are imported, and every export is compared whole.
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Plugin } from "../../bench/bundling.ts";
import { literalSchemaKeys, SDK_SCHEMA_MODULE, withLiteralKeys } from "../../stacks/loops.ts";

const ROOT = resolve(import.meta.dirname, "../..");
// SST's own esbuild: the one `sst deploy` bundles with.
const esbuild = createRequire(createRequire(import.meta.url).resolve("sst/package.json"))("esbuild") as {
  build(options: Record<string, unknown>): Promise<{ outputFiles?: Array<{ text: string }> }>;
};
/** A module named `lib` with the given source. */
const libModule = (contents: string): Plugin => ({
  name: "lib",
  setup(build) {
    build.onResolve({ filter: /^lib$/ }, () => ({ path: "lib", namespace: "lib" }));
    build.onLoad({ filter: /.*/, namespace: "lib" }, () => ({ contents, loader: "js" }));
  },
});
const out = mkdtempSync(join(tmpdir(), "proxy-fleet-schema-keys-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The schema modules of every SDK client the project depends on, and of the clients the SDK nests for credentials. */
function schemaModules(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const roots = Object.keys(pkg.dependencies).filter((name) => name.startsWith("@aws-sdk/client-")).map((name) => join(ROOT, "node_modules", name, "dist-es"));
  const nested = join(ROOT, "node_modules/@aws-sdk/nested-clients/dist-es/submodules");
  roots.push(...readdirSync(nested).map((sub) => join(nested, sub)));
  return roots.flatMap((root) => {
    const dir = join(root, "schemas");
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^schemas_\d+\.js$/.test(f)).map((f) => join(dir, f)) : [];
  });
}

/** One schema module bundled on its own (its imports resolved as in a handler), as shipped or rewritten. */
async function bundled(file: string, rewrite: boolean, name: string): Promise<Record<string, unknown>> {
  const outfile = join(out, `${name}.mjs`);
  await esbuild.build({
    stdin: { contents: `export * from ${JSON.stringify(file)};`, resolveDir: ROOT, loader: "js" },
    bundle: true, format: "esm", platform: "node", outfile, logLevel: "error",
    plugins: rewrite ? [literalSchemaKeys()] : [],
  });
  return await import(outfile) as Record<string, unknown>;
}

/**
 * A schema value as plain data: thunks (`() => Shape$`) by the export they return (or what it is), classes by name,
 * registries' maps as sorted entries. Another export met inside is named, not expanded again.
 */
function plain(value: unknown, exportNames: Map<unknown, string>, seen: Set<unknown>): unknown {
  if (typeof value === "function") {
    if (value.prototype !== undefined) return { class: value.name };
    return { thunk: plain((value as () => unknown)(), exportNames, seen) };
  }
  if (value === null || typeof value !== "object") return value;
  if (seen.size > 0 && exportNames.has(value)) return { export: exportNames.get(value) };
  if (seen.has(value)) return "(cycle)";
  const inner = new Set(seen).add(value);
  // Registries key their maps by shape id or by the error's schema itself.
  if (value instanceof Map) return [...value].map(([k, v]) => [plain(k, exportNames, inner), plain(v, exportNames, inner)]);
  if (Array.isArray(value)) return value.map((v) => plain(v, exportNames, inner));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v, exportNames, inner)]));
}

const asPlain = (module: Record<string, unknown>) => {
  const names = new Map(Object.entries(module).map(([name, value]) => [value, name]));
  return Object.fromEntries(Object.entries(module).map(([name, value]) => [name, plain(value, names, new Set())]));
};

const modules = schemaModules();

describe("the SDK schema modules, with literal keys", () => {
  it("are found for every client the loops use, and the bundling's filter takes each of them", () => {
    expect(modules.map((m) => m.split("node_modules/")[1])).toEqual(expect.arrayContaining([
      "@aws-sdk/client-ec2/dist-es/schemas/schemas_0.js",
      "@aws-sdk/client-codecommit/dist-es/schemas/schemas_0.js",
      "@aws-sdk/nested-clients/dist-es/submodules/sts/schemas/schemas_0.js",
    ]));
    for (const file of modules) expect(SDK_SCHEMA_MODULE.test(file), file).toBe(true);
  });

  it.each(modules.map((file, i) => ({ file, i, name: file.split("node_modules/@aws-sdk/")[1]!.replace("/dist-es", "") })))("$name exports exactly the same schemas", async ({ file, i }) => {
    const shipped = asPlain(await bundled(file, false, `shipped-${i}`));
    const rewritten = asPlain(await bundled(file, true, `rewritten-${i}`));
    // The rewrite did change something: these modules key their traits through string constants.
    expect(withLiteralKeys(readFileSync(file, "utf8"))).not.toBe(readFileSync(file, "utf8"));
    expect(Object.keys(shipped).length).toBeGreaterThan(5);
    expect(rewritten).toEqual(shipped);
  }, 60_000);
});

describe("withLiteralKeys", () => {
  it("writes a computed key naming a top-level string constant as that string, and leaves everything else", () => {
    const source = [
      'const _xN = "xmlName";',
      'const _q = "quote \\" inside";',
      "let notConst = \"x\";",
      "export var A$ = [3, n0, _a, 0, [_m], [[0, { [_xN]: _TSa, [_q]: 1, [notConst]: 2, [unknown]: 3 }]]];",
      "export var B$ = [x[_xN], y[0]];",
    ].join("\n");
    expect(withLiteralKeys(source).split("\n").slice(3)).toEqual([
      'export var A$ = [3, n0, _a, 0, [_m], [[0, { "xmlName": _TSa, "quote \\" inside": 1, [notConst]: 2, [unknown]: 3 }]]];',
      "export var B$ = [x[_xN], y[0]];",
    ]);
  });

  it("lets SST's esbuild leave out a shape nobody imports, which it keeps with the computed key", async () => {
    const lib = [
      'const _xN = "xmlName";',
      "export var Used$ = [3, \"ns\", \"Used\", 0, [], [[0, { [_xN]: \"used\" }]]];",
      "export var Unused$ = [3, \"ns\", \"UnusedShapeName\", 0, [], [[0, { [_xN]: \"unused\" }]]];",
    ].join("\n");
    const build = async (contents: string) => (await esbuild.build({
      stdin: { contents: 'import { Used$ } from "lib"; console.log(Used$);', loader: "js" }, bundle: true, write: false, format: "esm",
      plugins: [libModule(contents)],
    })).outputFiles![0]!.text;
    expect(await build(lib)).toContain("UnusedShapeName");
    const rewritten = await build(withLiteralKeys(lib));
    expect(rewritten).not.toContain("UnusedShapeName");
    expect(rewritten).toContain('"xmlName": "used"');
  });
});
