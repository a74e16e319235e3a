// Every loop's Lambda bundle, built exactly as `sst deploy` builds it (SST's own build, the stacks' bundling
// settings), then: its minified and gzipped size, how much of it is the AWS SDK, and its module init time
// (importing the bundle in a fresh Node.js process with the Lambda environment stubbed, no network). With code
// splitting, the entry, what importing it loads, and all chunks are sized apart, and init is also timed with the
// on-demand chunks loaded after it (what an invocation that reaches them pays). For comparison, the same handler
// built as one file (no splitting), without Powertools' tracer (replaced by a no-op), and with the AWS SDK taken
// from node_modules as the Lambda runtime's copy would be (@aws-sdk/* external).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { LOOP_BUNDLING } from "../stacks/loops.ts";
import { buildAsStack, loopHandlers, withPlugins, type Metafile, type Plugin } from "./bundling.ts";
import { report } from "./measure.ts";

const ROOT = resolve(import.meta.dirname, "..");
/** Fresh processes per bundle and variant. */
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 7);

/** The tracer and its middleware as no-ops: what the handler costs without X-Ray. */
const withoutTracer: Plugin = {
  name: "without-tracer",
  setup(build) {
    build.onResolve({ filter: /^@aws-lambda-powertools\/tracer(\/middleware)?$/ }, (args) => ({ path: args.path, namespace: "no-tracer" }));
    build.onLoad({ filter: /.*/, namespace: "no-tracer" }, () => ({
      contents: [
        "export class Tracer { captureAWSv3Client(c) { return c; } }",
        "export const captureLambdaHandler = () => ({ before: () => undefined });",
      ].join("\n"),
      loader: "js",
    }));
  },
};

/** What the Lambda runtime sets that the handlers' module scope may read; credentials are fake, nothing is called. */
const lambdaEnvironment = (service: string) => ({
  PATH: process.env.PATH ?? "", AWS_REGION: "us-east-1", AWS_DEFAULT_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench", AWS_SESSION_TOKEN: "bench",
  AWS_LAMBDA_FUNCTION_NAME: service, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024", AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
  AWS_XRAY_CONTEXT_MISSING: "IGNORE_ERROR", POWERTOOLS_SERVICE_NAME: service, POWERTOOLS_METRICS_NAMESPACE: "ProxyFleet",
  NODE_OPTIONS: "",
});

interface InitTime {
  /** Wall-clock milliseconds of the import. */
  readonly wall: number;
  /** CPU milliseconds (user + system) the import took: what a busy machine inflates least. */
  readonly cpu: number;
}

/** Module init: importing a bundle in a fresh process, then the other files given (chunks it would load on demand). */
function initTime(files: readonly string[], service: string): InitTime {
  const script = [
    "const c = process.cpuUsage(); const t = performance.now();",
    ...files.map((file) => `await import(${JSON.stringify(`file://${file}`)});`),
    "const wall = performance.now() - t; const { user, system } = process.cpuUsage(c);",
    "process.stdout.write(JSON.stringify({ wall, cpu: (user + system) / 1000 }));",
  ].join("\n");
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: lambdaEnvironment(service), encoding: "utf8", timeout: 30_000 });
  // The last lines say why (a bundle's lines are too long to print whole).
  if (child.status !== 0) throw new Error(`${files[0]} did not load: ${child.stderr.split("\n").filter((l) => l.length < 500).slice(-6).join("\n")}`);
  return JSON.parse(child.stdout) as InitTime;
}

/** Init times of each set of files, taken in turns so that a busy moment of the machine weighs on all alike. */
function initTimesInTurn(imports: ReadonlyArray<readonly string[]>, service: string): InitTime[][] {
  const times = imports.map(() => [] as InitTime[]);
  for (let run = 0; run < PROCESSES; run++) imports.forEach((files, i) => times[i]!.push(initTime(files, service)));
  return times;
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted.at(-1)! };
};

/** Bytes of the output that come from the AWS SDK (@aws-sdk/*, @smithy/*). */
const sdkBytes = (metafile: Metafile) => Object.entries(metafile.outputs).filter(([path]) => !path.endsWith(".map"))
  .flatMap(([, o]) => Object.entries(o.inputs)).filter(([path]) => /node_modules\/@(aws-sdk|smithy)\//.test(path))
  .reduce((n, [, input]) => n + input.bytesInOutput, 0);

const kB = (files: readonly string[]) => files.reduce((n, file) => n + statSync(file).size, 0) / 1000;

/** Median, min and max of wall time and the median CPU time, as figures named after `what`. */
const initFigures = (what: string, times: InitTime[], spread = true) => {
  const wall = stats(times.map((t) => t.wall));
  const cpu = stats(times.map((t) => t.cpu));
  return [
    ...(spread ? [{ name: `${what} min`, value: wall.min, unit: "ms" }] : []),
    { name: `${what} median`, value: wall.median, unit: "ms" },
    ...(spread ? [{ name: `${what} max`, value: wall.max, unit: "ms" }] : []),
    { name: `${what} CPU time median`, value: cpu.median, unit: "ms" },
  ];
};

/**
 * The bundling settings with the AWS SDK left out, loaded at run time from a node_modules beside the bundle
 * (here the project's: the runtime's copy is another version, and not ours to choose).
 */
const SDK_FROM_RUNTIME: typeof LOOP_BUNDLING = { ...LOOP_BUNDLING, esbuild: { ...LOOP_BUNDLING.esbuild, external: ["@aws-sdk/*"] } };

process.chdir(ROOT);
const out = mkdtempSync(join(tmpdir(), "proxy-fleet-bundles-"));
try {
  for (const { id, handler } of loopHandlers(ROOT)) {
    const service = handler.split("/").pop()!.replace(/\.handler$/, "");
    const build = (nodejs: typeof LOOP_BUNDLING, variant: string) => buildAsStack(handler, nodejs, join(out, `${id}${variant}`), `${id}${variant}`);
    const deployed = await build(LOOP_BUNDLING, "");
    const oneFile = await build({ ...LOOP_BUNDLING, splitting: false }, "-one-file");
    const untraced = await build(withPlugins(LOOP_BUNDLING, withoutTracer), "-untraced");
    const runtimeSdk = await build(SDK_FROM_RUNTIME, "-runtime-sdk");
    symlinkSync(join(ROOT, "node_modules"), join(out, `${id}-runtime-sdk`, "node_modules"), "dir");

    const lazyToo = deployed.lazy.length > 0;
    const imports = [[deployed.file], ...(lazyToo ? [[deployed.file, ...deployed.lazy]] : []), [oneFile.file], [untraced.file], [runtimeSdk.file]];
    const times = initTimesInTurn(imports, service);
    const [init, initAndLazy] = lazyToo ? [times[0]!, times[1]!] : [times[0]!, undefined];
    const [oneFileInit, untracedInit, runtimeSdkInit] = times.slice(lazyToo ? 2 : 1);
    const median = (t: InitTime[], key: keyof InitTime) => stats(t.map((x) => x[key])).median;
    report(`Lambda bundle ${handler} (as sst deploy builds it)`, [
      { name: "entry chunk minified size", value: kB([deployed.file]), unit: "kB" },
      { name: "loaded at init (entry + static chunks)", value: kB(deployed.loadedAtInit), unit: "kB" },
      { name: `all chunks (${deployed.chunks.length})`, value: kB(deployed.chunks), unit: "kB" },
      { name: "all chunks gzipped", value: deployed.chunks.reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0) / 1000, unit: "kB" },
      { name: "of all chunks: AWS SDK", value: sdkBytes(deployed.metafile) / 1000, unit: "kB" },
      ...initFigures(`module init (${PROCESSES} processes)`, init),
      ...(initAndLazy ? initFigures("init + on-demand chunks", initAndLazy, false) : []),
      { name: "one file (no splitting): size", value: kB([oneFile.file]), unit: "kB" },
      ...initFigures("one file: init", oneFileInit!, false),
      { name: "tracer's share of init (median)", value: median(init, "wall") - median(untracedInit!, "wall"), unit: "ms" },
      { name: "tracer's share of init CPU (median)", value: median(init, "cpu") - median(untracedInit!, "cpu"), unit: "ms" },
      { name: "SDK from the runtime: all chunks", value: kB(runtimeSdk.chunks), unit: "kB" },
      { name: "SDK from the runtime: AWS SDK left", value: sdkBytes(runtimeSdk.metafile) / 1000, unit: "kB" },
      ...initFigures("SDK from the runtime: init", runtimeSdkInit!),
    ]);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
