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
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { deploySettings } from "./settings.ts";
import { waiveDeadLetterFinding } from "./nag.ts";

type EsbuildPlugin = NonNullable<NonNullable<NodeJSProps["esbuild"]>["plugins"]>[number];

/**
 * zod through its namespace import. `import * as z` with only `z.<name>` accesses lets esbuild keep just the zod
 * functions used (zod marks its constructors pure); `import { z }` takes zod's `z` re-export, a namespace object
 * SST's esbuild (0.18) keeps whole with everything it reaches (JSON Schema conversion, every locale). Our code
 * imports zod the first way (zod's own docs' form); Powertools' parser schemas the second, rewritten here: both
 * name the same functions, and the modules only read properties of `z`.
 */
export function zodNamespaceImports(): EsbuildPlugin {
  return {
    name: "zod-namespace-imports",
    setup(build) {
      build.onLoad({ filter: /[\\/]node_modules[\\/]@aws-lambda-powertools[\\/]parser[\\/].+\.js$/ }, (args) => ({
        contents: readFileSync(args.path, "utf8").replace(/^import \{ z \} from (['"])zod\1;$/gm, "import * as z from $1zod$1;"),
        loader: "js",
      }));
    },
  };
}

/** The AWS SDK clients' schema modules: every shape of the service, one `export var` each. */
export const SDK_SCHEMA_MODULE = /[\\/]node_modules[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/](?:.+[\\/])?schemas[\\/]schemas_\d+\.js$/;

/**
 * The SDK's shape schemas with literal keys, so that those a handler does not use are left out. Each client's
 * schemas module (the EC2 client's is 1.3 MB) names its trait keys through string constants (`{ [_xN]: _TSa }`
 * with `const _xN = "xmlName"`); SST's esbuild (0.18) counts a computed key as a possible side effect and keeps
 * every statement that has one, i.e. every shape of the service (552 kB of EC2 shapes in instance-heal, which
 * calls seven EC2 operations). The same object with the constant's string written as the key
 * (`{ "xmlName": _TSa }`) is what the module evaluates to anyway; test/stacks/sdk-schema-keys.test.ts holds every
 * schema module the loops can bundle to that.
 */
export function literalSchemaKeys(): EsbuildPlugin {
  return {
    name: "literal-sdk-schema-keys",
    setup(build) {
      build.onLoad({ filter: SDK_SCHEMA_MODULE }, (args) => ({ contents: withLiteralKeys(readFileSync(args.path, "utf8")), loader: "js" }));
    },
  };
}

/** A schema module's source with each computed key `[_c]:` naming a top-level string constant written as that string. */
export function withLiteralKeys(source: string): string {
  const strings = new Map<string, string>();
  for (const [, name, literal] of source.matchAll(/^const (\w+) = ("(?:[^"\\\n]|\\.)*");$/gm)) strings.set(name!, literal!);
  return source.replace(/\[(\w+)\]:/g, (key, name: string) => {
    const literal = strings.get(name);
    return literal === undefined ? key : `${literal}:`;
  });
}

/**
 * The X-Ray SDK's `semver` as the one function it calls. Its AWS SDK v2 patcher (loaded with the SDK, never used
 * by a v3 client) calls `semver.gte` and nothing else, but `require("semver")` loads all of semver's ranges and
 * classes (~29 kB minified in every bundle); `semver/functions/gte` is the same function from the same copy.
 * test/rollout/bundle.test.ts checks that the X-Ray SDK still calls nothing else.
 */
export function xraySemverGteOnly(): EsbuildPlugin {
  const namespace = "xray-semver-gte";
  return {
    name: namespace,
    setup(build) {
      build.onResolve({ filter: /^semver$/ }, (args) =>
        (/[\\/]node_modules[\\/]aws-xray-sdk-core[\\/]/.test(args.importer) ? { path: args.importer, namespace } : undefined));
      build.onLoad({ filter: /.*/, namespace }, (args) => ({ contents: 'module.exports = { gte: require("semver/functions/gte") };', resolveDir: dirname(args.path), loader: "js" }));
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
  esbuild: { keepNames: false, plugins: [zodNamespaceImports(), literalSchemaKeys(), xraySemverGteOnly(), httpThroughRequire()] },
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
