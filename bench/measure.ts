// Shared helpers: time a step several times and report the median, and the process's peak memory.
import { performance } from "node:perf_hooks";

export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

export async function median(runs: number, step: () => unknown | Promise<unknown>): Promise<number> {
  return (await spread(runs, step)).median;
}

/** A step timed `runs` times: the fastest, the median and the slowest run, in ms (a loaded machine widens the spread). */
export async function spread(runs: number, step: () => unknown | Promise<unknown>): Promise<{ min: number; median: number; max: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await step();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { min: times[0]!, median: times[Math.floor(times.length / 2)]!, max: times[times.length - 1]! };
}

/** Peak resident set size of this process so far, in MiB (each benchmark runs in its own process). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function report(benchmark: string, figures: Figure[]): void {
  process.stdout.write(JSON.stringify({ benchmark, figures }) + "\n");
}
