import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateCode, HEADER_MARKER, type GeneratedFile } from '../../codegen/index.js';
import { formatDiagnostics, loadDefinitions } from '../definitions/index.js';
import { displayPath } from '../definitions/files.js';
import { isEdaflowError } from '../errors/index.js';

export interface CodegenOptions {
  /** Output directory (default: `<dir>/generated`). */
  readonly out?: string;
  /** Compare with the files on disk instead of writing; exit 1 when they differ. */
  readonly check?: boolean;
}

/**
 * `edaflow codegen`: generate TypeScript for a definitions directory, writing only files that changed
 * (and removing generated files that are no longer produced), or with `--check` compare in memory.
 * Exit 0 done / up to date, 1 invalid definitions or stale output, 2 unusable input.
 */
export async function codegenCommand(dir: string, options: CodegenOptions): Promise<number> {
  const started = performance.now();
  const result = await loadDefinitions(dir, { mode: 'validate' });
  if (result.unusable) {
    process.stderr.write(`edaflow: ${result.unusable}\n`);
    return 2;
  }
  if (!result.definitions) {
    process.stderr.write(formatDiagnostics(result.diagnostics, result.files, 'pretty', process.stderr.isTTY === true) + '\n');
    return 1;
  }
  const outDir = resolve(options.out ?? join(dir, 'generated'));
  const shownOut = displayPath(outDir) || '.';
  let files: GeneratedFile[];
  try {
    files = await generateCode(result.definitions);
  } catch (error) {
    if (!isEdaflowError(error, 'EDA_DEFINITIONS_INVALID')) throw error;
    process.stderr.write(`edaflow codegen: ${error.message}\n`);
    return 1;
  }
  const comparison = compareOutput(outDir, files);
  const elapsed = `${Math.round(performance.now() - started)} ms`;

  if (options.check) {
    const stale = [...comparison.changed.map((p) => `${p} (differs)`), ...comparison.missing.map((p) => `${p} (missing)`), ...comparison.extra.map((p) => `${p} (no longer generated)`)];
    if (stale.length === 0) {
      process.stdout.write(`codegen: ${shownOut} is up to date (${files.length} files, ${elapsed})\n`);
      return 0;
    }
    process.stderr.write(`codegen: ${shownOut} is stale: ${stale.join(', ')}\nrun \`edaflow codegen ${dir}${options.out ? ` --out ${options.out}` : ''}\` and commit the result\n`);
    return 1;
  }

  mkdirSync(outDir, { recursive: true });
  const toWrite = new Set([...comparison.changed, ...comparison.missing]);
  for (const file of files) if (toWrite.has(file.path)) writeFileSync(join(outDir, file.path), file.text);
  for (const path of comparison.extra) rmSync(join(outDir, path));
  const removed = comparison.extra.length ? `, removed ${comparison.extra.length}` : '';
  process.stdout.write(`codegen: wrote ${toWrite.size} file${toWrite.size === 1 ? '' : 's'}, ${comparison.unchanged.length} unchanged${removed} in ${shownOut} (${elapsed})\n`);
  return 0;
}

export interface OutputComparison {
  readonly unchanged: string[];
  readonly changed: string[];
  readonly missing: string[];
  /** Files in the directory that carry the generated header but are not generated any more. */
  readonly extra: string[];
}

/** Compares generated files with a directory. Files without the generated header are the user's: never touched. */
export function compareOutput(outDir: string, files: readonly GeneratedFile[]): OutputComparison {
  const comparison: OutputComparison = { unchanged: [], changed: [], missing: [], extra: [] };
  for (const file of files) {
    const existing = readIfExists(join(outDir, file.path));
    if (existing === undefined) comparison.missing.push(file.path);
    else if (existing === file.text) comparison.unchanged.push(file.path);
    else comparison.changed.push(file.path);
  }
  const generated = new Set(files.map((file) => file.path));
  let entries: string[] = [];
  try {
    entries = readdirSync(outDir, { withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name).sort();
  } catch {
    // no directory yet: everything is missing
  }
  for (const name of entries) {
    if (generated.has(name)) continue;
    const text = readIfExists(join(outDir, name)) ?? '';
    if (text.slice(0, 200).includes(HEADER_MARKER)) comparison.extra.push(name);
  }
  return comparison;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
    throw error;
  }
}
