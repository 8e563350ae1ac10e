import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import type { GeneratedFile } from '../../codegen/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

/** A scratch directory inside the repository (so `node_modules` resolves from it); remove it with `cleanup`. */
export function tempDir(): { path: string; cleanup: () => void } {
  const path = join(REPO, 'test/codegen', `.tmp-${randomBytes(6).toString('hex')}`);
  mkdirSync(path, { recursive: true });
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export function writeFiles(dir: string, files: readonly GeneratedFile[]): void {
  for (const file of files) {
    mkdirSync(dirname(join(dir, file.path)), { recursive: true });
    writeFileSync(join(dir, file.path), file.text);
  }
}

/** Runs the TypeScript compiler on a project; `output` is what it printed. */
export function tsc(project: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: REPO, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A user's tsconfig: strict, ESM on Node, stricter flags on. */
export const USER_TSCONFIG = JSON.stringify({
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noUnusedLocals: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  },
  include: ['**/*.ts'],
}, null, 2);

/** Loads definitions from YAML text; fails the test when they are not valid. */
export async function definitionsFrom(files: Record<string, string>, root = '/virtual/defs'): Promise<Definitions> {
  const result = await loadDefinitions(root, { fileSystem: memoryFileSystem(files, root) });
  if (!result.definitions) throw new Error(`invalid test definitions:\n${result.diagnostics.map((d) => `${d.file}:${d.line}:${d.column} ${d.code} ${d.message}`).join('\n')}`);
  return result.definitions;
}

/** Runs a CLI command in process, capturing what it writes. */
export async function captureOutput(run: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    return { code: await run(), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
