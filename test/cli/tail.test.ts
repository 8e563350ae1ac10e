import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServers } from '../servers/servers.mjs';
import { freePort, waitFor } from '../helpers/process.js';

// Spawns the built CLI: run `npx tsc -p tsconfig.json` first.
const cli = join(process.cwd(), 'bin/edaflow.js');
const workdir = mkdtempSync(join(tmpdir(), 'edaflow-cli-tail-'));
const schema = `edaflow_tail_${Date.now().toString(36)}`;
const url = 'postgres://postgres@127.0.0.1:5432/postgres';

const app = (database: string): string => `
brokers: { db: { type: postgres, pollInterval: 200ms } }
stores: { database: ${database} }
defaults: { source: tail-test }
topics: { orders: {} }
queues: { jobs: {} }
events:
  OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object, required: [orderId], properties: { orderId: { type: string } } } } } }
commands:
  RunJob: { queue: jobs, schema: { type: object } }
handlers:
  recordOrder: { on: OrderPlaced }
  runJob: { on: RunJob }
`;

const HANDLERS = `
import { appendFileSync } from 'node:fs';
export default {
  async recordOrder(message) { appendFileSync(${JSON.stringify(join(workdir, 'orders.log'))}, message.data.orderId + '\\n'); },
  async runJob() {},
};
`;

function definitions(name: string, yaml: string): string {
  const dir = join(workdir, name);
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'app.yaml'), yaml);
  return dir;
}

const edaflow = (dir: string, ...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8' });

/** A running `edaflow tail`, its output so far, and its exit. */
function tail(dir: string, ...args: string[]) {
  const child = spawn(process.execPath, [cli, 'tail', '.', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = (): string[] => stdout.split('\n').filter(Boolean);
  /** Resolves once the reader is subscribed (it says so on stderr): from then on it sees every new message. */
  const ready = () => waitFor(async () => stderr.includes('(Ctrl-C to stop)'), 60_000, () => stderr);
  return { child, exited, lines, ready, stderr: () => stderr };
}

afterAll(async () => {
  const client = new pg.Client(url);
  await client.connect();
  await client.query(`drop schema if exists "${schema}" cascade`);
  await client.end();
  rmSync(workdir, { recursive: true, force: true });
});

describe('edaflow tail, beside a running edaflow on the postgres broker', () => {
  let dir: string;
  let run: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    dir = definitions('server', app(`{ type: postgres, url: "${url}", schema: ${schema} }`));
    writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
    const port = await freePort();
    run = spawn(process.execPath, [cli, 'run', '.', '--handlers', 'handlers.mjs', '--port', String(port)], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000);
  }, 90_000);

  afterAll(() => void run?.kill('SIGTERM'));

  it('prints new messages as JSON lines while the handler still gets every one, and stops cleanly on SIGTERM', async () => {
    expect(edaflow(dir, 'publish', '.', 'OrderPlaced', '--data', '{"orderId":"before"}').status).toBe(0);
    const watching = tail(dir, 'orders', '--format', 'json');
    await watching.ready();
    const sent = edaflow(dir, 'publish', '.', 'OrderPlaced', '--data', '{"orderId":"o-1"}', '--subject', 'o-1');
    expect(sent.status, sent.stderr).toBe(0);
    await waitFor(async () => watching.lines().length >= 1, 20_000, watching.stderr);
    const [line] = watching.lines();
    expect(JSON.parse(line!)).toMatchObject({ specversion: '1.0', id: sent.stdout.trim(), type: 'OrderPlaced', subject: 'o-1', source: 'tail-test', data: { orderId: 'o-1' } });
    // Only what was published after the tail started; the handler's own group lost nothing to it.
    await waitFor(async () => readFileSync(join(workdir, 'orders.log'), 'utf8') === 'before\no-1\n', 20_000);
    watching.child.kill('SIGTERM');
    expect(await watching.exited).toBe(0);
    expect(watching.lines()).toHaveLength(1);
    // The throwaway group leaves nothing behind.
    const client = new pg.Client(url);
    await client.connect();
    const { rows } = await client.query(`select distinct group_name from "${schema}".edaflow_topic_groups where topic = 'orders'`);
    await client.end();
    expect(rows.map((row) => row.group_name)).toEqual(['recordOrder']);
  }, 60_000);

  it('prints the history first with --from-beginning, as pretty lines, and stops cleanly on SIGINT', async () => {
    const watching = tail(dir, 'orders', '--from-beginning');
    await waitFor(async () => watching.lines().length >= 2, 30_000, watching.stderr);
    expect(watching.lines()[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+ OrderPlaced v1 id=[0-9a-f-]{36} \{"orderId":"before"\}$/);
    expect(watching.lines()[1]).toMatch(/^\S+ OrderPlaced v1 subject=o-1 id=[0-9a-f-]{36} \{"orderId":"o-1"\}$/);
    watching.child.kill('SIGINT');
    expect(await watching.exited).toBe(0);
  }, 60_000);

  it('refuses a queue, saying why, and an unknown name, listing the topics (exit 2)', () => {
    const queue = edaflow(dir, 'tail', '.', 'jobs');
    expect(queue.status).toBe(2);
    expect(queue.stderr).toContain('is a queue');
    expect(queue.stderr).toContain('take them from the workers');
    const unknown = edaflow(dir, 'tail', '.', 'nope');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('topics: orders');
  });
});

describe('edaflow tail on the embedded database', () => {
  it('prints what was published before, from the beginning, and exits after --count', async () => {
    const dir = definitions('embedded', app(`{ type: embedded, path: ${JSON.stringify(join(workdir, 'pglite'))} }`));
    for (const orderId of ['e-1', 'e-2']) {
      const sent = edaflow(dir, 'publish', '.', 'OrderPlaced', '--data', JSON.stringify({ orderId }));
      expect(sent.status, sent.stderr).toBe(0);
    }
    const watching = tail(dir, 'orders', '--from-beginning', '--format', 'json', '--count', '2');
    expect(await watching.exited, watching.stderr()).toBe(0);
    expect(watching.lines().map((line) => JSON.parse(line).data.orderId)).toEqual(['e-1', 'e-2']);
  }, 120_000);
});
