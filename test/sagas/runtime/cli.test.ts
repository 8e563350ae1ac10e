import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../../runtime/definitions/index.js';
import { createEnvelope } from '../../../runtime/envelope/index.js';
import { MemoryDedupStore } from '../../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../../runtime/messaging/index.js';
import { createOutbox } from '../../../runtime/outbox/index.js';
import { createSagaMachine } from '../../../runtime/sagas/index.js';
import { handleMessage } from '../../../runtime/sagas/runtime/advance.js';
import type { Database } from '../../../runtime/store/database.js';
import { openTestPostgres, POSTGRES_URL } from '../../conformance/adapters/postgres.js';
import { logger } from './support.js';

// `edaflow sagas list` and `sagas show` (the built CLI: run `npx tsc -p tsconfig.json` first).
const cli = join(process.cwd(), 'bin/edaflow.js');
const dir = mkdtempSync(join(tmpdir(), 'edaflow-sagas-cli-'));
let database: Database;
let dispose: () => Promise<void>;
let messaging: Messaging;

const yaml = (schema: string) => `
edaflow: 1
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
topics: { doors: {} }
events:
  DoorOpened: { topic: doors, versions: { 1: { schema: { type: object, required: [door], properties: { door: { type: string } } } } } }
  DoorClosed: { topic: doors, versions: { 1: { schema: { type: object, required: [door], properties: { door: { type: string } } } } } }
sagas:
  Door:
    startedBy: DoorOpened
    correlate: { DoorOpened: data.door, DoorClosed: data.door }
    context: { door: "{% data.door %}" }
    machine:
      initial: open
      states:
        open: { on: { DoorClosed: { target: closed } } }
        closed: { type: final }
`;

const edaflow = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  let schema: string;
  ({ database, schema, dispose } = await openTestPostgres());
  writeFileSync(join(dir, 'app.yaml'), yaml(schema));
  const definitions = (await loadDefinitions(dir)).definitions!;
  messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
  const machine = createSagaMachine('Door', definitions.sagas.get('Door')!.spec, definitions);
  const transitions = { machines: new Map([['Door', machine]]), outbox: createOutbox({ publisher: messaging.publisher }), source: 'test', logger, stuckRetryMs: 60_000 };
  for (const door of ['front', 'back']) await handleMessage(database, transitions, machine, createEnvelope('DoorOpened', { door }, 'test'));
  await handleMessage(database, transitions, machine, createEnvelope('DoorClosed', { door: 'back' }, 'test'));
}, 60_000);

afterAll(async () => {
  await messaging?.stop();
  await dispose?.();
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('edaflow sagas', () => {
  it('list: a table of id, saga, status, state, updated; --status narrows it', async () => {
    const all = edaflow('sagas', 'list', dir);
    expect(all.stderr).toBe('');
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+SAGA\s+STATUS\s+STATE\s+UPDATED$/);
    expect(lines).toHaveLength(3);
    const running = edaflow('sagas', 'list', dir, '--status', 'running', '--format', 'json');
    expect(JSON.parse(running.stdout)).toEqual([expect.objectContaining({ saga: 'Door', status: 'running', state: 'open' })]);
    expect(edaflow('sagas', 'list', dir, '--status', 'asleep').status).toBe(2);
  });

  it('show: state, context and the history with times', async () => {
    const { rows } = await database.query<{ id: string }>("select id from edaflow_saga_instances where correlation_key = 'back'");
    const shown = edaflow('sagas', 'show', dir, rows[0]!.id);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain('status:      completed');
    expect(shown.stdout).toContain('"door": "back"');
    expect(shown.stdout).toMatch(/\d{4}-\d\d-\d\dT[\d:.]+Z\s+\(start\)\s+open\s+running\s+DoorOpened/);
    expect(shown.stdout).toMatch(/open\s+closed\s+completed\s+DoorClosed/);
    const missing = edaflow('sagas', 'show', dir, 'nope');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('EDA_SAGA_NOT_FOUND');
  });
});
