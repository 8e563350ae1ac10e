import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/process.js';

const cli = join(process.cwd(), 'bin/edaflow.js');
const workdir = mkdtempSync(join(tmpdir(), 'edaflow-run-'));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

function definitions(yaml: string): string {
  const dir = mkdtempSync(join(workdir, 'defs-'));
  writeFileSync(join(dir, 'app.yaml'), yaml);
  return dir;
}

function start(args: string[]) {
  const child = spawn(process.execPath, [cli, 'run', ...args], { cwd: workdir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('edaflow run', () => {
  it('serves health, becomes ready on the embedded database, logs JSON and stops cleanly on SIGTERM', async () => {
    const dir = definitions(`
stores:
  database: { type: embedded, path: ${JSON.stringify(join(workdir, 'db'))} }
topics: { greetings: {} }
events:
  Hello: { topic: greetings, versions: { 1: { schema: { type: object } } } }
`);
    const port = await freePort();
    const run = start([dir, '--port', String(port)]);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 20_000, () => run.output().stderr);
    const ready = await waitFor(async () => {
      const response = await fetch(`${base}/readyz`);
      return response.status === 200 ? ((await response.json()) as { components: { name: string; ready: boolean }[] }) : undefined;
    }, 90_000, () => run.output().stderr);
    expect(ready.components).toContainEqual(expect.objectContaining({ name: 'database', ready: true }));
    const missing = await fetch(`${base}/no-such-route`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'EDA_NOT_FOUND', message: 'no route GET /no-such-route' } });

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const lines = run.output().stdout.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; level: string });
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['listening', 'edaflow started', 'draining', 'stopped cleanly']));
  }, 120_000);

  it('refuses invalid definitions with exit 1 and the located error', async () => {
    const dir = definitions('topics:\n  orders: { partitions: zero }\n');
    const run = start([dir]);
    expect(await run.exited).toBe(1);
    expect(run.output().stderr).toMatch(/app\.yaml:2:\d+ error EDA_TYPE/);
  });

  it('treats an unset environment variable as an error, naming it and its line', async () => {
    const dir = definitions('stores:\n  database: { type: postgres, url: "${EDAFLOW_TEST_UNSET_URL}" }\n');
    const run = start([dir]);
    expect(await run.exited).toBe(1);
    expect(run.output().stderr).toMatch(/app\.yaml:2:\d+ error EDA_ENV_UNSET: environment variable EDAFLOW_TEST_UNSET_URL/);
  });

  it('refuses to start when the definitions name typed code and no handlers module is given', async () => {
    const dir = definitions(`
topics: { t: {} }
events:
  Hello: { topic: t, versions: { 1: { schema: { type: object } } } }
handlers:
  greet: { on: Hello }
`);
    const run = start([dir, '--port', '0']);
    expect(await run.exited).toBe(1);
    expect(run.output().stdout).toContain('EDA_HANDLERS_MODULE');
    expect(run.output().stdout).toContain('greet');
  });

  it('exits 2 for a directory that does not exist', async () => {
    const run = start([join(workdir, 'nope')]);
    expect(await run.exited).toBe(2);
    expect(run.output().stderr).toContain('cannot read definitions directory');
  });
});
