/**
 * Feeds 1,000 randomly corrupted variants of the example application (definitions/) to the loader, one
 * mutation each (see test/helpers/mutations.ts), and asserts that every one is handled: no crash, every
 * problem located in a file of the variant at a line (and column) that exists, and an outcome that is
 * exit code 1 or 2 — each mutation is built to break the definitions, so "valid" is a failure too.
 *
 * The seed is printed; FUZZ_SEED=<n> replays a run (FUZZ_SEED=random picks one), FUZZ_VARIANT=<i> runs one
 * variant of it, FUZZ_COUNT=<n> changes the number of variants. A failure names seed, variant, mutation and file.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diskFileSystem, loadDefinitions, memoryFileSystem, type LoadResult } from '../../runtime/definitions/index.js';
import { createMutator, prng, reprinted, type Variant } from '../helpers/mutations.js';

const EXAMPLE = resolve('definitions');
const DEFAULT_SEED = 20_241_127;
const seed = process.env['FUZZ_SEED'] === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env['FUZZ_SEED'] ?? DEFAULT_SEED);
const count = Number(process.env['FUZZ_COUNT'] ?? 1_000);
const only = process.env['FUZZ_VARIANT'] === undefined ? undefined : Number(process.env['FUZZ_VARIANT']);

/** The example's YAML files (as the loader lists them) and the JSON Schema files they `$ref`, by relative path. */
function exampleFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const pending = diskFileSystem.list(EXAMPLE);
  while (pending.length) {
    const path = pending.shift()!;
    const name = relative(EXAMPLE, path);
    if (files[name] !== undefined) continue;
    const text = readFileSync(path, 'utf8');
    files[name] = text;
    for (const match of text.matchAll(/["']?\$ref["']?\s*:\s*["']?(\.{1,2}\/[^"'\s,}]+)/g)) pending.push(resolve(dirname(path), match[1]!));
  }
  return files;
}

/** The variant for index i: its own PRNG stream, so one variant replays without the others. */
function variantAt(mutator: ReturnType<typeof createMutator>, index: number): Variant {
  const random = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  for (let attempt = 0; attempt < 50; attempt++) {
    const kind = mutator.kinds[Math.floor(random() * mutator.kinds.length)]!;
    const variant = mutator.mutate(kind, random);
    if (variant) return variant;
  }
  throw new Error(`variant ${index}: no mutation applies`);
}

/** What is wrong with how a variant was handled, or an empty list. */
function problems(variant: Variant, result: LoadResult): string[] {
  const found: string[] = [];
  const lines = new Map(Object.entries(variant.files).map(([name, text]) => [name, text.split('\n')]));
  const check = (what: string, at: { file: string; line: number; column: number }): void => {
    const fileLines = lines.get(at.file);
    if (!fileLines) found.push(`${what} is in "${at.file}", which is not a file of the variant`);
    else if (!(at.line >= 1 && at.line <= fileLines.length)) found.push(`${what} is at line ${at.line}; ${at.file} has ${fileLines.length}`);
    else if (!(at.column >= 1 && at.column <= fileLines[at.line - 1]!.length + 1)) found.push(`${what} is at column ${at.column}; ${at.file}:${at.line} has ${fileLines[at.line - 1]!.length} characters`);
  };
  for (const d of result.diagnostics) {
    check(`${d.code} "${d.message}"`, d);
    for (const related of d.related ?? []) check(`related location of ${d.code}`, related);
  }
  if (!result.unusable && result.errorCount === 0) found.push(`the variant is accepted as valid (exit code 0)`);
  return found;
}

function context(variant: Variant): string {
  const original = exampleFiles()[variant.file] ?? '';
  const mutated = variant.files[variant.file]!;
  const a = original.split('\n');
  const b = mutated.split('\n');
  let first = 0;
  while (first < a.length && first < b.length && a[first] === b[first]) first++;
  return b.slice(Math.max(0, first - 2), first + 3).map((line, i) => `    ${Math.max(0, first - 2) + i + 1}| ${line}`).join('\n');
}

describe('1,000 corrupted variants of the example', () => {
  it('start from a valid example, also when printed back by the YAML printer some mutations use', async () => {
    const files = exampleFiles();
    for (const variant of [files, reprinted(files)]) {
      const result = await loadDefinitions('.', { cwd: EXAMPLE, fileSystem: memoryFileSystem(variant, EXAMPLE), mode: 'validate', env: {} });
      expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    }
  });


  it('are each reported, located in a file and line of the variant, with exit code 1 or 2', async () => {
    const files = exampleFiles();
    const mutator = createMutator({ files });
    const fileSystemRoot = EXAMPLE; // variants live in memory, at the example's own paths
    console.log(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed}), ${only === undefined ? count : 1} variant(s) of ${Object.keys(files).length} files`);
    const started = performance.now();
    const kinds = new Map<string, number>();
    const failures: string[] = [];
    for (let index = only ?? 0; index < (only === undefined ? count : only + 1); index++) {
      const variant = variantAt(mutator, index);
      kinds.set(variant.kind, (kinds.get(variant.kind) ?? 0) + 1);
      let found: string[];
      try {
        const result = await loadDefinitions('.', { cwd: fileSystemRoot, fileSystem: memoryFileSystem(variant.files, fileSystemRoot), mode: 'validate', env: {} });
        found = problems(variant, result);
      } catch (error) {
        found = [`loadDefinitions threw: ${((error as Error).stack ?? String(error)).split('\n').slice(0, 6).join('\n    ')}`];
      }
      if (found.length) {
        failures.push(`variant ${index} (FUZZ_SEED=${seed} FUZZ_VARIANT=${index}): ${variant.kind} in ${variant.file}: ${variant.detail}\n${found.map((f) => `  - ${f}`).join('\n')}\n${context(variant)}`);
        if (failures.length >= 10) break;
      }
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`fuzz: ${seconds} s; mutations: ${[...kinds].map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
    if (only === undefined && count >= 1_000) {
      for (const kind of mutator.kinds) expect(kinds.get(kind) ?? 0, `mutation ${kind} was applied`).toBeGreaterThanOrEqual(20);
    }
  }, 120_000);
});
