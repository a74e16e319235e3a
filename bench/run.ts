// Runs each benchmark in its own process (so peak memory is its own) and prints a table of figures.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const here = import.meta.dirname;
const only = process.argv[2];
const benchmarks = readdirSync(here)
  .filter((file) => file.endsWith(".bench.ts"))
  .filter((file) => !only || file.includes(only))
  .sort();

for (const file of benchmarks) {
  const output = execFileSync(process.execPath, [join(here, file)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  for (const line of output.trim().split("\n")) {
    const { benchmark, figures } = JSON.parse(line) as { benchmark: string; figures: Array<{ name: string; value: number; unit: string }> };
    process.stdout.write(`\n${benchmark}  (${file})\n`);
    for (const figure of figures) {
      const value = figure.unit === "" ? String(Math.round(figure.value)) : figure.value.toFixed(1);
      process.stdout.write(`  ${figure.name.padEnd(36)} ${value.padStart(10)} ${figure.unit}\n`);
    }
  }
}
