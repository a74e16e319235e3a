// What every proxy-fleet Lambda shares: Node.js 22, logs that expire, and EventBridge's asynchronous
// invocation made safe. EventBridge invokes Lambda asynchronously: a function error gets Lambda's own retries
// and is then dropped unless the function has an on-failure destination; a rule's dead-letter queue covers
// only delivery failures (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html,
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html). So both go to one queue.
import {
  Duration, RemovalPolicy, type Stack, aws_events_targets as targets, aws_lambda_destinations as destinations, aws_logs as logs, aws_sqs as sqs,
} from "aws-cdk-lib";
import { Function, type FunctionProps } from "sst/constructs";
import type { NodeJSProps } from "sst/constructs/Function.js";
import { dirname, join } from "node:path";
import { deploySettings } from "./settings.ts";
import { waiveDeadLetterFinding } from "./nag.ts";

type EsbuildPlugin = NonNullable<NonNullable<NodeJSProps["esbuild"]>["plugins"]>[number];

/**
 * zod hangs every locale off `z.locales` and `z.core.locales` (about 250 kB minified), and SST's esbuild (0.18)
 * keeps a namespace re-export whole. Nothing reads a locale but English, zod's default (its schemas import en.js
 * themselves): `z.locales` is given that one.
 */
function englishZodLocaleOnly(): EsbuildPlugin {
  const namespace = "zod-english-locale";
  return {
    name: namespace,
    setup(build) {
      build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
        (/[\\/]zod[\\/]v4[\\/](classic[\\/]external|core[\\/]index)\.js$/.test(args.importer) ? { path: join(args.resolveDir, "../locales/index.js"), namespace } : undefined));
      build.onLoad({ filter: /.*/, namespace }, (args) => ({ contents: 'export { default as en } from "./en.js";', resolveDir: dirname(args.path), loader: "js" }));
    },
  };
}

/**
 * `node:http` through `require`, not an ES module import. Node builds an ES module's view of a builtin by reading
 * every export, and `node:http`'s lazy `WebSocket` / `CloseEvent` / `MessageEvent` getters then load and compile
 * Node's bundled undici (~30 ms of every cold start, found in a CPU profile of the init: docs/performance.md). The
 * SDK's HTTP handler and the tracer's HTTP capture import it; a CommonJS require reads only what they use. SST's
 * ESM banner defines `require` (createRequire), which esbuild's `__require` uses for the external builtin.
 */
export function httpThroughRequire(): EsbuildPlugin {
  const namespace = "http-through-require";
  return {
    name: namespace,
    setup(build) {
      build.onResolve({ filter: /^(node:)?http$/ }, (args) =>
        (args.namespace === namespace ? { path: "node:http", external: true } : args.kind === "import-statement" ? { path: "node:http", namespace } : undefined));
      build.onLoad({ filter: /.*/, namespace }, () => ({ contents: 'module.exports = require("node:http");', loader: "js" }));
    },
  };
}

/**
 * How SST v2 bundles every loop's handler (its own esbuild 0.18, sst/runtime/handlers/node.js): ES modules,
 * minified, split where the code imports on demand. The AWS SDK is bundled, not taken from the runtime (loaded
 * unbundled from node_modules, it makes init 2-3.5x longer: docs/performance.md): the runtime's copy is updated by AWS without
 * an opt-out and may lack what the loops call (S3 conditional writes), so AWS advises shipping your own
 * (https://docs.aws.amazon.com/lambda/latest/operatorguide/sdks-functions.html); bundled, only the clients and
 * commands a handler imports are shipped, and the tests ran against exactly that version.
 * bench/bundles.bench.ts builds each handler with these very settings through SST's own build.
 */
export const LOOP_BUNDLING: NodeJSProps = {
  format: "esm",
  minify: true,
  // What a handler imports with import() (the config loader's `yaml` parse, needed only for text outside its fast
  // reader's subset, and the SDK's own on-demand parts) goes into chunks of its own, loaded on first use, not at every
  // cold start (~235 kB less loaded at init; the init time barely moves, docs/performance.md). SST then writes
  // the entry and its chunks as .mjs beside each other, the entry where the handler setting points
  // (https://v2.sst.dev/constructs/Function#nodejsprops, https://esbuild.github.io/api/#splitting).
  splitting: true,
  // SST keeps every function's and class's name by default; nothing here reads a name the minifier would change
  // (SDK errors carry their own `name`), and dropping them makes each bundle ~5 % smaller and its init ~10 % shorter.
  esbuild: { keepNames: false, plugins: [englishZodLocaleOnly(), httpThroughRequire()] },
};

export interface Loop {
  readonly fn: Function;
  readonly failures: sqs.Queue;
  /** The EventBridge target: delivery retried for at most maxEventAge, undeliverable events kept in `failures`. */
  readonly target: targets.LambdaFunction;
}

export interface LoopOptions {
  /** How old an event may get before it is no longer worth acting on (delivery and async retries). */
  readonly maxEventAge: Duration;
  /** Lambda's own retries of a failed invocation (0-2). */
  readonly retryAttempts: number;
}

export function loopFunction(stack: Stack, id: string, props: FunctionProps, options: LoopOptions): Loop {
  const { reservedConcurrency } = deploySettings();
  // Its own log group with a retention: no log-retention helper Lambda (and its logs:* on "*") is needed.
  const logGroup = new logs.LogGroup(stack, `${id}Logs`, { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
  const fn = new Function(stack, id, {
    logGroup,
    ...(reservedConcurrency ? { reservedConcurrentExecutions: reservedConcurrency } : {}),
    ...props,
    // Last, so no loop bundles differently from what the bench measured.
    nodejs: LOOP_BUNDLING,
  });
  const failures = new sqs.Queue(stack, `${id}Failures`, { enforceSSL: true, retentionPeriod: Duration.days(14) });
  waiveDeadLetterFinding(failures);
  fn.configureAsyncInvoke({
    maxEventAge: options.maxEventAge,
    retryAttempts: options.retryAttempts,
    onFailure: new destinations.SqsDestination(failures),
  });
  const target = new targets.LambdaFunction(fn, { deadLetterQueue: failures, retryAttempts: 20, maxEventAge: options.maxEventAge });
  return { fn, failures, target };
}
