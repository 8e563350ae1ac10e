import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../runtime/envelope/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import type { ProjectionContext } from '../../runtime/projections/index.js';
import { openDatabase, type Database } from '../../runtime/store/database.js';
import { POSTGRES_URL } from '../conformance/adapters/postgres.js';
import { ensureServers } from '../servers/servers.mjs';
import { definitionsFrom, event, eventually, openStack, start, type Stack } from './support.js';

const cli = resolve(import.meta.dirname, '..', '..', 'bin', 'edaflow.js');
const dir = mkdtempSync(join(tmpdir(), 'edaflow-rebuild-'));
const schema = `edaflow_rebuild_${Date.now().toString(36)}`;

const DEFINITIONS = `
edaflow: 1
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
topics: { notes: {}, audits: {} }
events:
  NoteWritten: { topic: notes, versions: { 1: { schema: { type: object, required: [text], properties: { text: { type: string } } } } } }
  NoteAudited: { topic: audits, versions: { 1: { schema: { type: object } } } }
projections:
  Notes:
    table: notes
    key: [id]
    columns: { id: text, text: text, length: integer }
    on:
      NoteWritten: { upsert: { id: "{% subject %}", text: "{% data.text %}" } }
    handler: measureNote
  Audits:
    from: audits
    table: audits
    key: [id]
    columns: { id: text }
    on:
      NoteAudited: { upsert: { id: "{% id %}" } }
`;

const HANDLERS = `
export async function measureNote(message, context) {
  await context.query('update notes set length = length(text) where id = $1', [message.subject]);
}
`;

async function measureNote(message: Envelope, context: ProjectionContext): Promise<void> {
  await context.query('update notes set length = length(text) where id = $1', [message.subject]);
}

const edaflow = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, EDAFLOW_LOG_LEVEL: 'warn' } });

describe('edaflow projections rebuild (PostgreSQL)', () => {
  let database: Database;
  let stack: Stack;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    writeFileSync(join(dir, 'app.yaml'), DEFINITIONS);
    writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
    database = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema });
    stack = await openStack(await definitionsFrom(DEFINITIONS), database);
  }, 60_000);

  afterAll(async () => {
    await stack?.messaging.stop();
    await database?.query(`drop schema if exists "${schema}" cascade`);
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays the event store into the table, showing progress, and ends equal to the live result', async () => {
    const projections = await start(stack, { measureNote } as unknown as HandlerFunctions);
    const notes = Array.from({ length: 250 }, (_, i) => event('NoteWritten', `n-${i % 120}`, { text: 'x'.repeat(i) }));
    for (let i = 0; i < notes.length; i += 50) await stack.store.append(`batch-${i}`, notes.slice(i, i + 50), { expectedVersion: 'no-stream' });
    const head = await database.query<{ position: string }>('select max(position)::text as position from edaflow_events');
    await eventually(async () => expect((await projections.positions())['Notes']).toBe(Number(head.rows[0]!.position)));
    await projections.stop();
    const live = (await database.query('select * from notes order by id')).rows;
    expect(live).toHaveLength(120);
    await database.query(`delete from notes where id like 'n-1%'`);

    const result = edaflow('projections', 'rebuild', '.', 'Notes', '--handlers', 'handlers.mjs');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^rebuilding Notes: 0\/250 events/m);
    expect(result.stdout).toMatch(/^rebuilt Notes: 250 events in \d+\.\d s \(\d+ events\/s\)\n$/);
    expect((await database.query('select * from notes order by id')).rows).toEqual(live);
  }, 60_000);

  it('asks for the handlers module when the projection has a hook', () => {
    const result = edaflow('projections', 'rebuild', '.', 'Notes');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('projection Notes runs the hook measureNote: pass --handlers <module>');
  });

  it('refuses a topic-fed projection and an unknown one, clearly', () => {
    const topicFed = edaflow('projections', 'rebuild', '.', 'Audits');
    expect(topicFed.status).toBe(1);
    expect(topicFed.stderr).toContain('EDA_REBUILD_UNSUPPORTED: projection Audits is fed from the topic audits');
    const unknown = edaflow('projections', 'rebuild', '.', 'Nope');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no projection named Nope (projections: Notes, Audits)');
  });
});
