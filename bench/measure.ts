// Shared helpers: time a step several times and report the median, and the process's peak memory.
import { performance } from "node:perf_hooks";

export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

export async function median(runs: number, step: () => unknown | Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await step();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Peak resident set size of this process so far, in MiB (each benchmark runs in its own process). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function report(benchmark: string, figures: Figure[]): void {
  process.stdout.write(JSON.stringify({ benchmark, figures }) + "\n");
}
