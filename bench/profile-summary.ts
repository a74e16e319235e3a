// Top self-time functions of a V8 CPU profile (.cpuprofile, from `node --cpu-prof` or bench/dns-one-run.ts):
// `node bench/profile-summary.ts <file.cpuprofile> [top=15]`. Prints a Markdown table: self time, share
// of the profile, function and where it lives (relative to the repository; node: and dependencies by package).
import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  readonly share: number;
}

const root = resolve(import.meta.dirname, "..");

/** Where a frame lives, short: "functions/dns/sync.ts:120", "yaml (dist/parse/lexer.js)", "(native)". */
export function place(url: string, line: number): string {
  if (!url) return "(native)";
  const path = url.replace(/^file:\/\//, "");
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path);
  if (dependency) return `${dependency[1]} (${dependency[2]})`;
  if (path.startsWith("node:")) return path;
  // A checkout elsewhere (an older commit measured side by side) reads like this one.
  const inRepository = /\/((?:functions|bench|test)\/.*)$/.exec(path);
  return `${inRepository ? inRepository[1] : path.startsWith("/") ? relative(root, path) : path}:${line + 1}`;
}

/** Self time per function (samples × their time deltas), largest first. */
export function selfTimes(profile: Profile): SelfTime[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, { name: string; where: string; us: number }>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const frame = byNode.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    all += us;
    const name = frame.functionName || "(anonymous)";
    const where = place(frame.url, frame.lineNumber);
    const key = `${name}@${where}`;
    const entry = totals.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    totals.set(key, entry);
  });
  return [...totals.values()].sort((a, b) => b.us - a.us).map((t) => ({ name: t.name, where: t.where, ms: t.us / 1000, share: all > 0 ? t.us / all : 0 }));
}

export function summaryTable(times: readonly SelfTime[], top: number): string {
  const total = times.reduce((n, t) => n + t.ms, 0);
  const rows = times.slice(0, top).map((t) => `| ${t.ms.toFixed(0)} | ${(t.share * 100).toFixed(1)}% | \`${t.name}\` | ${t.where} |`);
  return [`profile: ${total.toFixed(0)} ms sampled`, "", "| self ms | share | function | where |", "|---:|---:|---|---|", ...rows].join("\n") + "\n";
}

if (import.meta.main) {
  const [file, top = "15"] = process.argv.slice(2);
  if (!file) throw new Error("usage: profile-summary.ts <file.cpuprofile> [top]");
  process.stdout.write(summaryTable(selfTimes(JSON.parse(readFileSync(file, "utf8")) as Profile), Number(top)));
}
