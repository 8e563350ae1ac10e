/**
 * `edaflow validate` as users run it: the built CLI (bin/edaflow.js → dist/, built by `pretest`), in each
 * output format, with its exit codes: 0 valid, 1 invalid, 2 unusable input.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { INVALID_FIXTURES } from '../helpers/fixtures.js';

const repo = process.cwd();
const cli = join(repo, 'bin/edaflow.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function validate(args: readonly string[], cwd = repo): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'validate', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A fixture with one error at a known place: orders.yaml line 5, column 5 (see its expected.json). */
const fixture = join(INVALID_FIXTURES, 'unknown-key-did-you-mean');

describe('edaflow validate (the CLI)', () => {
  beforeAll(() => {
    if (!existsSync(join(repo, 'dist/runtime/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it in pretest)');
  });

  it('accepts the example application with exit code 0', async () => {
    const run = await validate(['definitions']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('definitions are valid');
    expect(run.code).toBe(0);
  });

  it('pretty: file:line:col, the code, the message and a code frame pointing at the line', async () => {
    const run = await validate(['.'], fixture);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain('orders.yaml:5:5 error EDA_UNKNOWN_KEY: unknown key "partitons"');
    expect(run.stdout).toContain('did you mean "partitions"?');
    // @babel/code-frame marks the reported line with ">" and the column with "^".
    expect(run.stdout).toMatch(/^> *5 \| {5}partitons: 3$/m);
    expect(run.stdout).toMatch(/^ *\| {5}\^$/m);
    expect(run.stdout).toContain('1 error, 0 warnings');
  });

  it('json: a parseable report whose diagnostics carry file, line, column, code and message', async () => {
    const run = await validate([fixture, '--format', 'json']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as { errors: number; warnings: number; diagnostics: Record<string, unknown>[] };
    expect(report.errors).toBe(1);
    expect(report.warnings).toBe(0);
    expect(report.diagnostics).toHaveLength(1);
    const [diagnostic] = report.diagnostics;
    expect(diagnostic).toMatchObject({ line: 5, column: 5, code: 'EDA_UNKNOWN_KEY', severity: 'error' });
    expect(diagnostic!['file']).toMatch(/(^|\/)test\/fixtures\/invalid\/unknown-key-did-you-mean\/orders\.yaml$/);
    expect(diagnostic!['message']).toContain('unknown key "partitons"');
  });

  it('github: one workflow-command annotation per problem', async () => {
    const run = await validate(['.', '--format', 'github'], fixture);
    expect(run.code, run.stderr).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^::error file=orders\.yaml,line=5,col=5,title=EDA_UNKNOWN_KEY::unknown key "partitons"/);
  });

  it('github: an annotation at each place of a problem that spans two files', async () => {
    const run = await validate(['.', '--format', 'github'], join(INVALID_FIXTURES, 'duplicate-name-across-files'));
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^::error file=orders\.yaml,line=7,col=3,title=EDA_DUPLICATE_NAME::"OrderPlaced" in events is defined twice/);
    expect(lines[1]).toMatch(/^::error file=shipping\.yaml,line=12,col=3,title=EDA_DUPLICATE_NAME::"OrderPlaced" in events is defined twice/);
  });

  it('reports every problem of a file with several, in file order', async () => {
    const run = await validate([join(INVALID_FIXTURES, 'duplicate-key'), '--format', 'json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { diagnostics: { line: number; code: string }[] };
    expect(report.diagnostics.map((d) => [d.code, d.line])).toEqual([['EDA_DUPLICATE_KEY', 5], ['EDA_DUPLICATE_KEY', 7]]);
  });

  it('exits 2 when the directory does not exist', async () => {
    const run = await validate([join(INVALID_FIXTURES, 'no-such-directory', 'does-not-exist')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cannot read definitions directory');
    expect(run.stdout).toBe('');
  });

  it('exits 2 when the directory holds no definitions, in JSON too', async () => {
    const run = await validate([join(INVALID_FIXTURES, 'empty-directory'), '--format', 'json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toEqual({ unusable: expect.stringContaining('no definitions in') });
  });
});
