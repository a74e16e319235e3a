// Copies the agent's runtime dependencies, and nothing else, out of an installed node_modules: the closure of
// AGENT_DEPENDENCIES through package-lock.json (the versions the project pins). The image build runs it after
// `npm ci --omit=dev`, so the image carries the S3/SSM/Secrets Manager clients, zod and yaml, not every Lambda
// dependency, and no npm.
//   node containers/agent-deps.ts <package-lock.json> <from: dir holding node_modules> <to: dir>
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const AGENT_DEPENDENCIES = ["@aws-sdk/client-s3", "@aws-sdk/client-ssm", "@aws-sdk/client-secrets-manager", "zod", "yaml"];

interface LockPackage {
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly dev?: boolean;
}

const NOT_AT_RUNTIME = /\/node_modules(\/|$)|\/dist-types(\/|$)|\.d\.[cm]?ts$|\.map$|\/(README|CHANGELOG)[^/]*$/i;

/** Where Node would find `name` when required from the package installed at `from` ("" is the project). */
function resolveInstalled(packages: Record<string, LockPackage>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ""}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut < 0 ? "" : base.slice(0, cut);
  }
}

/** Every lock path (e.g. node_modules/@smithy/types) the given dependencies need, transitively. */
export function dependencyClosure(lock: { packages: Record<string, LockPackage> }, roots: readonly string[]): string[] {
  const seen = new Set<string>();
  const queue: Array<[string, string, boolean]> = roots.map((name) => ["", name, false]);
  while (queue.length > 0) {
    const [from, name, optional] = queue.shift()!;
    const path = resolveInstalled(lock.packages, from, name);
    if (!path) {
      if (optional) continue;
      throw new Error(`package-lock.json has no ${name} for ${from || "the project"}`);
    }
    if (seen.has(path)) continue;
    seen.add(path);
    const entry = lock.packages[path]!;
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push([path, dep, false]);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) queue.push([path, dep, true]);
  }
  return [...seen].sort();
}

if (import.meta.main) {
  const [lockFile, from, to] = process.argv.slice(2);
  if (!lockFile || !from || !to) {
    process.stderr.write("usage: agent-deps.ts <package-lock.json> <from> <to>\n");
    process.exit(2);
  }
  const lock = JSON.parse(readFileSync(lockFile, "utf8")) as { packages: Record<string, LockPackage> };
  const paths = dependencyClosure(lock, AGENT_DEPENDENCIES);
  for (const path of paths) {
    const source = join(from, path);
    if (!existsSync(source)) throw new Error(`${source} is not installed (run npm ci first)`);
    // Nested node_modules are copied as packages of their own when the closure needs them; type
    // declarations, source maps and docs are never loaded at run time.
    cpSync(source, join(to, path), { recursive: true, filter: (file) => file === source || !NOT_AT_RUNTIME.test(file.slice(source.length)) });
  }
  process.stdout.write(`agent-deps: ${paths.length} packages copied to ${to}\n`);
}
