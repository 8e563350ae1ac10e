/** Where every benchmark writes its result: one JSON file per benchmark under bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/** The machine a result was measured on: numbers from different CPUs do not compare. */
export function machine(): { cpus: number; cpu: string | undefined; node: string; loadavg: number[] } {
  return { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavg: loadavg().map((load) => Number(load.toFixed(2))) };
}

/**
 * Writes `bench/results/<name>.json`: when it was measured, on what, and `result`. A partial run (some
 * cases, sides or modes, e.g. for profiling or an A/B) is printed by its benchmark and never written
 * over the full result: `complete` false says so on stderr instead.
 */
export function writeResult(name: string, result: Record<string, unknown>, complete = true): void {
  if (!complete) {
    process.stderr.write(`a partial run: bench/results/${name}.json is left as it was\n`);
    return;
  }
  const directory = new URL('./results/', import.meta.url);
  mkdirSync(directory, { recursive: true });
  writeFileSync(new URL(`${name}.json`, directory), `${JSON.stringify({ measuredAt: new Date().toISOString(), machine: machine(), ...result }, null, 2)}\n`);
}
