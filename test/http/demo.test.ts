import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/process.js';

// `npm start` is scripts/demo.mjs: on a fresh database directory, with no servers, it must walk the
// order flow through the API and, with --exit, stop the server cleanly and exit 0.
const workdir = mkdtempSync(join(tmpdir(), 'edaflow-demo-'));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

describe('npm start (scripts/demo.mjs)', () => {
  it('shows create → the saga confirms → cancel → a refused second cancel (409) → the cancelled summary', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['scripts/demo.mjs', '--exit', '--port', String(port)], {
      cwd: process.cwd(),
      env: { ...process.env, EDAFLOW_DATA_DIR: join(workdir, 'db'), EDAFLOW_JWT_SECRET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, output).toBe(0);
    const lines = output.split('\n');
    const responses = lines.filter((line) => line.startsWith('← ')).map((line) => line.split(' ')[1]);
    expect(responses).toEqual(['202', '200', '200', '409', '200']);
    expect(lines.find((line) => line.startsWith('← 200 {"id"'))).toMatch(/"status":"confirmed"/);
    expect(output).toContain('"version":3');
    expect(output).toContain('"message":"Cannot cancel order in current status"');
    expect(lines.at(-2)).toMatch(/^← 200 \{.*"status":"cancelled","total":47/);
  }, 180_000);
});
