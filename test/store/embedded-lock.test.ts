import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { openDatabase } from '../../runtime/store/database.js';

function holdInChild(path: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/store/embedded-holder.ts', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve(child));
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before it was ready`)));
  });
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the open to be refused');
    },
    (error: unknown) => error,
  );
}

/** PGlite has no lock of its own: two processes on one directory would write over each other. */
describe('the embedded database directory belongs to one process at a time', () => {
  const root = mkdtempSync(join(tmpdir(), 'edaflow-lock-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a second process while the first runs, naming it; takes over once it was killed', async () => {
    const path = join(root, 'shared');
    const child = await holdInChild(path);
    try {
      const error = await refusal(openDatabase({ type: 'embedded', path }));
      expect(isEdaflowError(error, 'EDA_DATABASE_IN_USE')).toBe(true);
      expect((error as Error).message).toContain(`open in process ${child.pid}`);
    } finally {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
    }
    const database = await openDatabase({ type: 'embedded', path });
    expect((await database.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await database.close();
  }, 120_000);

  it('a CLI command beside a process holding the database says which one holds it and exits 1', async () => {
    const path = join(root, 'cli');
    const definitionsDir = join(root, 'cli-definitions');
    mkdirSync(definitionsDir, { recursive: true });
    writeFileSync(join(definitionsDir, 'app.yaml'), `edaflow: 1\nstores: { database: { type: embedded, path: ${JSON.stringify(path)} } }\ntopics: { t: {} }\nevents:\n  Pinged: { topic: t, versions: { 1: { schema: { type: object } } } }\n`);
    const child = await holdInChild(path);
    try {
      const status = spawnSync(process.execPath, ['bin/edaflow.js', 'status', definitionsDir], { encoding: 'utf8', timeout: 60_000 });
      expect(status.status).toBe(1);
      expect(status.stderr).toContain('EDA_DATABASE_IN_USE');
      expect(status.stderr).toContain(`open in process ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);

  it('refuses a second open in the same process, and opens again once the first is closed', async () => {
    const path = join(root, 'own');
    const first = await openDatabase({ type: 'embedded', path });
    const error = await refusal(openDatabase({ type: 'embedded', path }));
    expect(isEdaflowError(error, 'EDA_DATABASE_IN_USE')).toBe(true);
    expect((error as Error).message).toContain('open in this process already');
    await first.close();
    const again = await openDatabase({ type: 'embedded', path });
    await again.close();
  }, 120_000);
});
