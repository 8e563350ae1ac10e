import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions, type Definitions } from '../../runtime/definitions/index.js';
import { startRuntime, type Runtime } from '../../runtime/host/runtime.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { waitFor } from '../helpers/process.js';

// The command and query API in process, on PostgreSQL (a private schema) and the memory broker, with a
// handlers module that brings its own `authenticate` verifier instead of JWTs.
const POSTGRES_URL = process.env['EDAFLOW_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `edaflow_api_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const dir = mkdtempSync(join(tmpdir(), 'edaflow-api-'));
const notes: unknown[] = ((globalThis as Record<string, unknown>)['__edaflowNotes'] = []) as unknown[];

const DEFINITIONS = `
brokers: { local: { type: memory } }
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
defaults: { source: api-test }
topics: { counters: {} }
queues: { later: {} }
events:
  Incremented:
    topic: counters
    versions: { 1: { schema: { type: object, required: [counterId, by], properties: { counterId: { type: string }, by: { type: integer } } } } }
  Reset:
    topic: counters
    versions: { 1: { schema: { type: object, required: [counterId], properties: { counterId: { type: string } } } } }
commands:
  Increment: { schema: { type: object, required: [counterId, by], additionalProperties: false, properties: { counterId: { type: string }, by: { type: integer, minimum: 1 } } } }
  ResetCounter:
    roles: [admin]
    schema: { type: object, required: [counterId], properties: { counterId: { type: string } } }
  Note: { schema: { type: object, required: [text], properties: { text: { type: string } } } }
  Later: { queue: later, schema: { type: object } }
aggregates:
  Counter:
    streamId: command.counterId
    initial: { value: 0 }
    evolve:
      Incremented: { value: "{% state.value + data.by %}" }
      Reset: { value: 0 }
    handle:
      Increment: { emit: Incremented }
      ResetCounter: { when: "state.value > 0", reject: Nothing to reset, emit: Reset }
handlers:
  note: { on: Note }
  later: { on: Later }
projections:
  CounterValue:
    table: counter_value
    key: [id]
    columns: { id: text, total: integer }
    on:
      Incremented: { upsert: { id: "{% subject %}", total: "{% data.by %}" } }
      Reset: { update: { total: 0 }, where: { id: "{% subject %}" } }
queries:
  counterById: { projection: CounterValue, where: { id: "{% params.id %}" }, single: true, roles: [reader, admin] }
`;

// x-user: "name:role,role" — a stand-in for whatever a deployment verifies (mTLS, a session, an API key).
const HANDLERS = `
const notes = globalThis.__edaflowNotes;
export default {
  async note(message) { notes.push(message.data); },
  async later() {},
};
export function authenticate(request) {
  const header = request.headers['x-user'];
  if (typeof header !== 'string') return undefined;
  const [subject, roles = ''] = header.split(':');
  return { subject, roles: roles.split(',').filter(Boolean) };
}
`;

let runtime: Runtime;

beforeAll(async () => {
  writeFileSync(join(dir, 'app.yaml'), DEFINITIONS);
  writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
  const loaded = await loadDefinitions(dir);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  runtime = await startRuntime(loaded.definitions as Definitions, { logger: createLogger({ level: 'silent' }), port: 0, handlersModule: join(dir, 'handlers.mjs') });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(dir, { recursive: true, force: true });
  const client = new pg.Client(POSTGRES_URL);
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${runtime.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

describe('the HTTP command and query API', () => {
  it('uses the handlers module`s `authenticate` export for roles, and keeps it out of the handler functions', async () => {
    const counterId = `c-${randomUUID().slice(0, 8)}`;
    expect(runtime.handlers).not.toHaveProperty('authenticate');
    expect((await post('/commands/ResetCounter', { data: { counterId } })).status).toBe(401);
    expect((await post('/commands/ResetCounter', { data: { counterId } }, { 'x-user': 'bob:viewer' })).status).toBe(403);
    const rejected = await post('/commands/ResetCounter', { data: { counterId } }, { 'x-user': 'ann:admin' });
    expect(rejected.status).toBe(409);
    expect(rejected.body['error']).toMatchObject({ code: 'EDA_COMMAND_REJECTED', message: 'Nothing to reset' });

    expect((await post('/commands/Increment?wait=true', { data: { counterId, by: 5 } })).body).toMatchObject({ streamId: counterId, version: 1 });
    const query = (user?: string) => fetch(`${runtime.url}/queries/counterById?id=${counterId}`, { headers: user ? { 'x-user': user } : {} });
    expect((await query()).status).toBe(401);
    expect((await query('bob:viewer')).status).toBe(403);
    const row = await waitFor(async () => {
      const response = await query('rae:reader');
      return response.status === 200 ? ((await response.json()) as Record<string, unknown>) : undefined;
    }, 10_000);
    expect(row).toEqual({ id: counterId, total: 5 });
  });

  it('takes the command id from the body: sending the same id again returns the first result, nothing is decided twice', async () => {
    const counterId = `c-${randomUUID().slice(0, 8)}`;
    const id = randomUUID();
    const first = await post('/commands/Increment?wait=true', { data: { counterId, by: 2 }, id, correlationId: 'corr-1' });
    expect(first).toMatchObject({ status: 200, body: { id, streamId: counterId, version: 1 } });
    const again = await post('/commands/Increment?wait=true', { data: { counterId, by: 2 }, id });
    expect(again.body).toEqual(first.body);
    const events = await runtime.eventStore.readStream(counterId);
    expect(events.map((event) => [event.version, event.envelope.causationid, event.envelope.correlationid])).toEqual([[1, id, 'corr-1']]);
    const noWait = await post('/commands/Increment', { data: { counterId, by: 1 } });
    expect(noWait).toMatchObject({ status: 202, body: { id: expect.any(String) } });
    expect(Object.keys(noWait.body)).toEqual(['id']);
  });

  it('an Idempotency-Key retry after the process died between the work and its recorded answer sends the same message: nothing is decided twice', async () => {
    const counterId = `c-${randomUUID().slice(0, 8)}`;
    const key = randomUUID();
    const increment = () => post('/commands/Increment?wait=true', { data: { counterId, by: 2 } }, { 'idempotency-key': key });
    const first = await increment();
    expect(first.body).toMatchObject({ streamId: counterId, version: 1 });
    // What a crash after the append and before the answer was recorded leaves behind: a claim, no answer, its lock lapsed.
    const died = await runtime.database.query("update edaflow_http_idempotency set status = null, response_body = null, locked_until = now() - interval '1 second' where key = $1", [key]);
    expect(died.affectedRows).toBe(1);
    const retried = await increment();
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(retried.body).toEqual(first.body);
    expect(await runtime.eventStore.streamVersion(counterId)).toBe(1);
    // A queued command: the retry sends the same message id, which the consumer's dedup drops.
    const laterKey = randomUUID();
    const later = () => post('/commands/Later', { data: {} }, { 'idempotency-key': laterKey });
    const sent = await later();
    await runtime.database.query("update edaflow_http_idempotency set status = null, response_body = null, locked_until = now() - interval '1 second' where key = $1", [laterKey]);
    expect((await later()).body).toEqual(sent.body);
  });

  it('sends other commands through the publisher: an in-process handler has run by a ?wait answer, a queued one is 202', async () => {
    const handled = await post('/commands/Note?wait=true', { data: { text: 'hello' } });
    expect(handled).toMatchObject({ status: 200, body: { id: expect.any(String) } });
    expect(notes).toContainEqual({ text: 'hello' });
    expect((await post('/commands/Later', { data: {} })).status).toBe(202);
    expect((await post('/commands/Later?wait=true', { data: {} })).body['error']).toMatchObject({ code: 'EDA_REQUEST_INVALID' });
    expect((await post('/commands/Increment?wait=maybe', { data: { counterId: 'x', by: 1 } })).status).toBe(400);
    expect((await post('/commands/Increment', { data: { counterId: 'x', by: 1 }, extra: true })).body['error']).toMatchObject({ code: 'EDA_PAYLOAD_INVALID', details: { pointer: '/extra' } });
  });

  it('lists every component in /readyz', async () => {
    const ready = (await (await fetch(`${runtime.url}/readyz`)).json()) as { status: string; components: { name: string; ready: boolean }[] };
    expect(ready.status).toBe('ready');
    expect(ready.components.map((component) => component.name)).toEqual(expect.arrayContaining(['database', 'brokers', 'eventstore', 'projections']));
    expect(ready.components.every((component) => component.ready)).toBe(true);
  });
});
