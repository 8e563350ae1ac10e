import { formatDiagnostics, loadDefinitions, summary, type OutputFormat } from '../definitions/index.js';

/** `edaflow validate`: every problem, each at file:line:col with a code. Exit 0 valid, 1 invalid, 2 unusable. */
export async function validateCommand(dir: string, options: { format: OutputFormat }): Promise<number> {
  const result = await loadDefinitions(dir, { mode: 'validate' });
  if (result.unusable) {
    if (options.format === 'json') process.stdout.write(JSON.stringify({ unusable: result.unusable }) + '\n');
    else process.stderr.write(`edaflow: ${result.unusable}\n`);
    return 2;
  }
  const output = formatDiagnostics(result.diagnostics, result.files, options.format, options.format === 'pretty' && process.stdout.isTTY === true);
  if (output) process.stdout.write(output + '\n');
  if (options.format === 'github' && result.diagnostics.length === 0) process.stdout.write(summary(result.diagnostics) + '\n');
  return result.errorCount > 0 ? 1 : 0;
}
