/**
 * `npm run bench:validate`: wall time of `edaflow validate` and `edaflow codegen` on a generated set of
 * 500 events, 100 sagas and 100 projections, against bare `node` start-up measured in the same run.
 * Prints a table and writes bench/results/validate.json.
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDefinitions } from './generate-definitions.js';
import { writeResult } from './results.js';
import { formatTable } from './table.js';

const runs = Number(process.env['BENCH_RUNS'] ?? 5);
const size = { events: 500, sagas: 100, projections: 100 };
const dir = join(tmpdir(), `edaflow-bench-validate-${process.pid}`);
const cli = new URL('../bin/edaflow.js', import.meta.url).pathname;

process.stderr.write(`generating ${size.events} events, ${size.sagas} sagas, ${size.projections} projections in ${dir}\n`);
generateDefinitions(dir, size);

const cases: { name: string; args: string[]; expectExit: number }[] = [
  { name: 'node start-up (baseline)', args: ['-e', ''], expectExit: 0 },
  { name: 'edaflow --version', args: [cli, '--version'], expectExit: 0 },
  { name: 'edaflow validate', args: [cli, 'validate', dir], expectExit: 0 },
  { name: 'edaflow codegen', args: [cli, 'codegen', dir, '--out', join(dir, '..', `edaflow-bench-out-${process.pid}`)], expectExit: 0 },
];

const results: Record<string, { seconds: number; min: number; max: number; runs: number }> = {};
for (const [index, benchCase] of cases.entries()) {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    process.stderr.write(`\r[${index + 1}/${cases.length}] ${benchCase.name}: run ${run + 1}/${runs}   `);
    const start = process.hrtime.bigint();
    const child = spawnSync(process.execPath, benchCase.args, { encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (child.status !== benchCase.expectExit) {
      throw new Error(`${benchCase.name} exited ${child.status}: ${child.stderr || child.stdout}`);
    }
    times.push(seconds);
  }
  times.sort((a, b) => a - b);
  results[benchCase.name] = { seconds: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times[times.length - 1]!, runs };
}
process.stderr.write('\n');

const baseline = results['node start-up (baseline)']!.seconds;
const rows = Object.entries(results).map(([name, r]) => [name, r.seconds.toFixed(3), r.min.toFixed(3), r.max.toFixed(3), (r.seconds - baseline).toFixed(3)]);
const header = ['case', 'median s', 'min s', 'max s', 'over baseline s'];
console.log(`validate/codegen on ${size.events} events, ${size.sagas} sagas, ${size.projections} projections (${runs} runs each, median)`);
console.log(formatTable(header, rows));
const target = results['edaflow validate']!.seconds < 1 ? 'met' : 'NOT met';
console.log(`target: validate under 1 s — ${target}`);

writeResult('validate', { size, runs, results, target: { validateUnderSeconds: 1, met: target === 'met' } });
