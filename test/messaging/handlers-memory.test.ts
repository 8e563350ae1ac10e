import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions, type Definitions } from '../../runtime/definitions/index.js';
import type { Envelope } from '../../runtime/envelope/index.js';
import { startRuntime, type Runtime } from '../../runtime/host/runtime.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { ensureServers } from '../servers/servers.mjs';
import { waitFor } from '../helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'edaflow-handlers-'));
const seen: Envelope[] = ((globalThis as Record<string, unknown>)['__edaflowSeen'] = []) as Envelope[];

const DEFINITIONS = `
brokers: { local: { type: memory } }
stores: { database: { type: postgres, url: "postgres://postgres@127.0.0.1:5432/postgres" } }
defaults: { source: test, retry: { attempts: 2, backoff: fixed, delay: 50ms } }
topics: { greetings: {}, replies: {} }
queues: { work: { deadLetter: { queue: work.failed } } }
events:
  Greeted:
    topic: greetings
    versions: { 1: { schema: { type: object, required: [name], properties: { name: { type: string } }, additionalProperties: false } } }
  Replied:
    topic: replies
    versions: { 1: { schema: { type: object, required: [text], properties: { text: { type: string } } } } }
commands:
  Log: { schema: { type: object, required: [line], properties: { line: { type: string } } } }
  Shout: { queue: work, schema: { type: object, required: [text], properties: { text: { type: string } } } }
handlers:
  reply: { on: Greeted, emits: [Replied], sends: [Log, Shout] }
  record: { on: Replied }
  log: { on: Log }
  shout: { on: Shout }
  sneaky: { on: Greeted, group: sneaky }
`;

const HANDLERS = `
const seen = globalThis.__edaflowSeen;
export default {
  async reply(message, context) {
    await context.send('Log', { line: 'hello ' + message.data.name });
    await context.send('Shout', { text: message.data.name });
    await context.emit('Replied', { text: 'hi ' + message.data.name });
  },
  async record(message) { seen.push(message); },
  async log(message) { seen.push(message); },
  async shout(message) { seen.push(message); },
  async sneaky(message, context) { await context.emit('Replied', { text: 'not declared' }); },
};
`;

let runtime: Runtime;

beforeAll(async () => {
  await ensureServers(['postgres']);
  writeFileSync(join(dir, 'app.yaml'), DEFINITIONS);
  writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
  const loaded = await loadDefinitions(dir);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  runtime = await startRuntime(loaded.definitions as Definitions, { logger: createLogger({ level: 'silent' }), port: 0, handlersModule: join(dir, 'handlers.mjs') });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('handlers on the memory broker, through POST /events', () => {
  it('runs a choreography: the event, an in-process command, a queued command and an emitted event, correlated', async () => {
    const response = await fetch(`${runtime.url}/events/Greeted`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { name: 'Ada' }, subject: 'ada' }) });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await waitFor(async () => seen.length >= 3, 10_000, () => JSON.stringify(seen.map((m) => m.type)));
    expect(seen.map((m) => m.type).sort()).toEqual(['Log', 'Replied', 'Shout']);
    for (const message of seen) {
      expect(message.correlationid).toBe(id);
      expect(message.causationid).toBe(id);
      expect(message.source).toBe('test');
    }
  });

  it('counts outcomes per consumer on /metrics', async () => {
    const text = await (await fetch(`${runtime.url}/metrics`)).text();
    expect(text).toMatch(/edaflow_messages_total\{consumer="record",outcome="handled"\} [1-9]/);
  });

  it('refuses an invalid payload with 400 and the JSON pointer, and sends nothing', async () => {
    const before = seen.length;
    const response = await fetch(`${runtime.url}/events/Greeted`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { name: 42 } }) });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string; details: { pointer: string } } };
    expect(body.error.code).toBe('EDA_PAYLOAD_INVALID');
    expect(body.error.details.pointer).toBe('/name');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.length).toBe(before);
  });

  it('answers 404 for an unknown type and 400 for a body without data', async () => {
    expect((await fetch(`${runtime.url}/events/Nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"data":{}}' })).status).toBe(404);
    expect((await fetch(`${runtime.url}/events/Greeted`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })).status).toBe(400);
    expect((await fetch(`${runtime.url}/events/Greeted`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' })).status).toBe(400);
  });

  it('dead-letters what a handler emits without declaring it, after its attempts', async () => {
    const broker = runtime.brokers.get('local')!;
    await waitFor(async () => (await broker.deadLetters.count('greetings.sneaky.dlq')) >= 1, 10_000);
    const [letter] = await broker.deadLetters.list('greetings.sneaky.dlq');
    expect(letter!.info.error).toContain('does not declare');
    expect(letter!.info.attempts).toBe(1);
  });
});
