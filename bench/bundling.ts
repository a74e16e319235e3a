// The loops' Lambda handlers, found where the stacks define them, and built exactly as `sst deploy` builds
// them: SST v2's own Node.js build (sst/runtime/handlers/node.js, with sst's esbuild) in deploy mode.
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NodeJSProps } from "sst/constructs/Function.js";

// esbuild's types as SST declares them (its own esbuild 0.18).
export type Plugin = NonNullable<NonNullable<NodeJSProps["esbuild"]>["plugins"]>[number];
export type Metafile = NonNullable<Parameters<Parameters<Parameters<Plugin["setup"]>[0]["onEnd"]>[0]>[0]["metafile"]>;

/** Observes the build's metafile (SST asks esbuild for one) without changing the output. */
export function metafileObserver(seen: (metafile: Metafile) => void): Plugin {
  return { name: "observe-metafile", setup: (build) => build.onEnd((result) => { if (result.metafile) seen(result.metafile); }) };
}

/** The bundling settings with more plugins after the stack's own. */
export const withPlugins = (nodejs: NodeJSProps, ...plugins: Plugin[]): NodeJSProps => ({
  ...nodejs, esbuild: { ...nodejs.esbuild, plugins: [...(nodejs.esbuild?.plugins ?? []), ...plugins] },
});

export interface LoopHandler {
  /** The construct id the stack gives the function (DnsSync, ConfigRollout, …). */
  readonly id: string;
  /** As the stack writes it: "functions/dns-sync.handler". */
  readonly handler: string;
}

/** Every `loopFunction(stack, "<id>", { handler: "…" …` in stacks/*.ts: a loop added there is benched too. */
export function loopHandlers(root: string): LoopHandler[] {
  const stacks = join(root, "stacks");
  const found: LoopHandler[] = [];
  for (const file of readdirSync(stacks).filter((f) => f.endsWith(".ts")).sort()) {
    const source = readFileSync(join(stacks, file), "utf8");
    for (const m of source.matchAll(/loopFunction\(\s*stack,\s*"(\w+)",\s*\{\s*handler:\s*"([^"]+)"/g)) found.push({ id: m[1]!, handler: m[2]! });
  }
  return found;
}

export interface BuiltHandler {
  /** The bundle Lambda loads: with code splitting, the entry chunk (its source map is uploaded apart from the code, as SST does). */
  readonly file: string;
  /** Every JavaScript file the build wrote: the entry, the chunks it imports statically, and those it imports on demand. */
  readonly chunks: readonly string[];
  /** What importing the handler loads: the entry and, transitively, the chunks it imports statically. */
  readonly loadedAtInit: readonly string[];
  /** Chunks loaded only by a dynamic import(), when a handler's code reaches it. */
  readonly lazy: readonly string[];
  readonly metafile: Metafile;
}

/** The output files of a build and which of them importing `entry` loads, from the metafile's static import edges. */
export function chunksOf(metafile: Metafile, root: string, entry: string): Pick<BuiltHandler, "chunks" | "loadedAtInit" | "lazy"> {
  const outputs = Object.entries(metafile.outputs).filter(([path]) => !path.endsWith(".map"))
    .map(([path, output]) => ({ file: resolve(root, path), imports: output.imports }));
  const loaded = new Set<string>();
  const visit = (file: string) => {
    if (loaded.has(file)) return;
    loaded.add(file);
    for (const imported of outputs.find((o) => o.file === file)?.imports ?? []) {
      if (imported.kind === "import-statement" && !imported.external) visit(resolve(root, imported.path));
    }
  };
  visit(entry);
  const chunks = outputs.map((o) => o.file);
  return { chunks, loadedAtInit: [...loaded], lazy: chunks.filter((file) => !loaded.has(file)) };
}

/**
 * Builds one handler with SST's deploy-mode build into `out`. Run from the project root (SST resolves the
 * handler path and sst.config.ts from there). npm is kept offline: SST runs `npm install` for packages it
 * must not bundle, and the loops have none.
 */
export async function buildAsStack(handler: string, nodejs: NodeJSProps, out: string, functionID: string): Promise<BuiltHandler> {
  Object.assign(process.env, { npm_config_offline: "true", npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" });
  const [{ initProject }, { useNodeHandler }] = await Promise.all([import("sst/project.js"), import("sst/runtime/handlers/node.js")]);
  await initProject({ stage: "bench" });
  let metafile: Metafile | undefined;
  const result = await useNodeHandler().build({
    functionID, mode: "deploy", out,
    props: { handler, runtime: "nodejs22.x", architecture: "arm_64", nodejs: withPlugins(nodejs, metafileObserver((m) => { metafile = m; })) },
  } as Parameters<ReturnType<typeof useNodeHandler>["build"]>[0]);
  if (result.type !== "success") throw new Error(`${handler}: SST's build failed: ${result.errors.join("\n")}`);
  // What Lambda loads for the handler setting SST writes ("functions/dns-sync.handler" → functions/dns-sync.mjs),
  // with code splitting too (SST then writes every chunk as .mjs into the handler's directory).
  const file = join(out, result.handler.replace(/\.[^.]+$/, ".mjs"));
  return { file, metafile: metafile!, ...chunksOf(metafile!, process.cwd(), file) };
}
