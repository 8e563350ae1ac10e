import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServers } from '../servers/servers.mjs';
import { freePort, waitFor } from '../helpers/process.js';

const cli = join(process.cwd(), 'bin/edaflow.js');
const dir = mkdtempSync(join(tmpdir(), 'edaflow-cli-broker-'));
const schema = `edaflow_cli_${Date.now().toString(36)}`;
const url = 'postgres://postgres@127.0.0.1:5432/postgres';

const DEFINITIONS = `
brokers: { db: { type: postgres, pollInterval: 200ms } }
stores: { database: { type: postgres, url: "${url}", schema: ${schema} } }
defaults: { source: cli-test }
queues: { jobs: { retry: { attempts: 2, backoff: fixed, delay: 100ms } } }
commands:
  RunJob: { queue: jobs, schema: { type: object, required: [name], properties: { name: { type: string }, fail: { type: boolean } } } }
handlers:
  runJob: { on: RunJob }
`;

const HANDLERS = `
import { appendFileSync } from 'node:fs';
export default {
  async runJob(message) {
    if (message.data.fail) throw new Error('job ' + message.data.name + ' failed');
    appendFileSync(${JSON.stringify(join(dir, 'done.log'))}, message.data.name + '\\n');
  },
};
`;

const edaflow = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8' });
let run: ReturnType<typeof spawn> | undefined;

beforeAll(async () => {
  await ensureServers(['postgres']);
  writeFileSync(join(dir, 'app.yaml'), DEFINITIONS);
  writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
  const port = await freePort();
  run = spawn(process.execPath, [cli, 'run', '.', '--handlers', 'handlers.mjs', '--port', String(port)], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000);
}, 90_000);

afterAll(async () => {
  run?.kill('SIGTERM');
  const client = new pg.Client(url);
  await client.connect();
  await client.query(`drop schema if exists "${schema}" cascade`);
  await client.end();
  rmSync(dir, { recursive: true, force: true });
});

describe('edaflow publish and dlq, against a running edaflow on the postgres broker', () => {
  it('publishes what is valid, refuses what is not with the JSON pointer and sends nothing', async () => {
    const sent = edaflow('publish', '.', 'RunJob', '--data', '{"name":"first"}');
    expect(sent.status, sent.stderr).toBe(0);
    expect(sent.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    const refused = edaflow('publish', '.', 'RunJob', '--data', '{"name":7}');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('/name');
    expect(refused.stderr).toContain('nothing was sent');
    await waitFor(async () => {
      const done = spawnSync('cat', [join(dir, 'done.log')], { encoding: 'utf8' }).stdout;
      return done === 'first\n';
    }, 20_000);
  });

  it('lists a failed message in its dead-letter queue, replays it, and purges it', async () => {
    expect(edaflow('publish', '.', 'RunJob', '--data', '{"name":"doomed","fail":true}').status).toBe(0);
    let listing = '';
    await waitFor(async () => {
      listing = edaflow('dlq', 'list', '.', 'jobs.dlq').stdout;
      return listing.includes('job doomed failed');
    }, 20_000);
    const [id] = listing.trim().split('\t');
    expect(id).toMatch(/^jobs\.dlq\//);
    expect(listing).toContain('attempts=2');
    expect(listing).toContain('queue:jobs');
    expect(edaflow('dlq', 'list', '.').stdout).toMatch(/jobs\.dlq\t1\t/);

    const retried = edaflow('dlq', 'retry', '.', id!);
    expect(retried.status, retried.stderr).toBe(0);
    // It fails again, every attempt, and lands back in the dead-letter queue.
    await waitFor(async () => edaflow('dlq', 'list', '.', 'jobs.dlq').stdout.includes('job doomed failed') && !edaflow('dlq', 'list', '.', 'jobs.dlq').stdout.includes(id!), 20_000);

    const purged = edaflow('dlq', 'purge', '.', 'jobs.dlq', '--older-than', '0ms');
    expect(purged.stdout).toContain('purged 1 message from jobs.dlq');
    expect(edaflow('dlq', 'list', '.').stdout).toMatch(/jobs\.dlq\t0\t/);
  });

  it('says what is wrong with a bad id or destination', () => {
    expect(edaflow('dlq', 'retry', '.', 'nonsense').stderr).toContain('<destination>/<id>');
    const unknown = edaflow('dlq', 'list', '.', 'nope.dlq');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('known: jobs.dlq');
  });
});
