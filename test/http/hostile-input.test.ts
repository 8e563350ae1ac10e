import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/host/runtime.js';
import { createHttpServer } from '../../runtime/http/server.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { POSTGRES_URL, startTestApp, type TestApp } from '../helpers/test-app.js';

// Bodies an attacker (or a broken client) sends: each is refused with a JSON error saying what is wrong,
// an oversized one without reading it to its end, and the server keeps serving the next request.
const notes: unknown[] = ((globalThis as Record<string, unknown>)['__edaflowHostileNotes'] = []) as unknown[];

const definitions = (schema: string) => `
brokers: { local: { type: memory } }
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
defaults: { source: hostile-test }
commands:
  Note: { schema: { type: object, required: [text], properties: { text: { type: string } } } }
handlers:
  note: { on: Note }
`;

const HANDLERS = `
const notes = globalThis.__edaflowHostileNotes;
export default { async note(message) { notes.push(message.data); } };
`;

let app: TestApp | undefined;
let runtime: Runtime;
let host: string;
let port: number;

beforeAll(async () => {
  app = await startTestApp({ name: 'hostile', definitions, handlers: HANDLERS });
  runtime = app.runtime;
  const url = new URL(runtime.url);
  host = url.hostname;
  port = Number(url.port);
}, 60_000);

afterAll(async () => {
  await app?.stop();
});

async function send(body: string, contentType: string | undefined) {
  const response = await fetch(`${runtime.url}/commands/Note?wait=true`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string; details?: Record<string, unknown> } } };
}

/** A valid command goes through: whatever came before did not break the server. */
async function stillServes(text: string): Promise<void> {
  const answer = await send(JSON.stringify({ data: { text } }), 'application/json');
  expect(answer.status).toBe(200);
  expect(notes).toContainEqual({ text });
}

/**
 * Sends a request's head and then body bytes over a raw socket, `chunked` or with a Content-Length of
 * `declared`, and stops after `sent` bytes without finishing the body. Resolves with what the server
 * answered and whether it closed the connection: an answer proves the server did not wait for the rest.
 */
function sendUnfinished(options: { declared?: number; sent: number }): Promise<{ head: string; body: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, host);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined); // the server may reset the connection while bytes are in flight
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      if (!head) reject(new Error('the server closed the connection without answering'));
      else resolve({ head, body: head.includes('chunked') ? body.split('\r\n')[1] ?? '' : body, closed: true });
    });
    const framing = options.declared === undefined ? 'transfer-encoding: chunked' : `content-length: ${options.declared}`;
    socket.write(`POST /commands/Note HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\n${framing}\r\n\r\n`);
    const piece = 'x'.repeat(64 * 1024);
    for (let written = 0; written < options.sent; written += piece.length) {
      socket.write(options.declared === undefined ? `${piece.length.toString(16)}\r\n${piece}\r\n` : piece);
    }
  });
}

describe('hostile HTTP input', () => {
  it('answers malformed JSON with 400 EDA_BODY_MALFORMED naming the line and column', async () => {
    const answer = await send('{\n  "data": {\n    "text": "hi",\n  }\n}', 'application/json');
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'EDA_BODY_MALFORMED', details: { line: 4, column: 3, offset: 34 } });
    expect(answer.body.error?.message).toMatch(/^the body is not valid JSON at line 4, column 3: /);
    const empty = await send('', 'application/json');
    expect(empty.status).toBe(400);
    expect(empty.body.error?.code).toBe('EDA_BODY_MALFORMED');
    await stillServes('after malformed JSON');
  });

  it('refuses a prototype-poisoning key rather than parsing it', async () => {
    const answer = await send('{ "data": { "text": "x" }, "__proto__": { "polluted": true } }', 'application/json');
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('EDA_BODY_MALFORMED');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('answers a body that is not JSON with 415 EDA_UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const answer = await send('data=1', type);
      expect(answer.status, type).toBe(415);
      expect(answer.body.error?.code).toBe('EDA_UNSUPPORTED_MEDIA_TYPE');
      expect(answer.body.error?.message).toContain('application/json');
    }
    await stillServes('after a wrong content type');
  });

  it('answers a 10 MB body announced by Content-Length with 413 before reading it, and closes the connection', async () => {
    const answer = await sendUnfinished({ declared: 10 * 1024 * 1024, sent: 256 * 1024 });
    expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.head.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'EDA_BODY_TOO_LARGE', details: { limit: 1024 * 1024 } } });
    await stillServes('after a 10 MB Content-Length');
  });

  it('answers a chunked body that grows past the limit with 413 without waiting for its end', async () => {
    // 2 MB of a body that never ends: only stopping at the limit can produce this answer.
    const answer = await sendUnfinished({ sent: 2 * 1024 * 1024 });
    expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'EDA_BODY_TOO_LARGE', message: 'the body is larger than 1048576 bytes (defaults.payloadLimit)' } });
    await stillServes('after an endless chunked body');
  });

  it('takes its limit from the server options (`defaults.payloadLimit` in the definitions)', async () => {
    const app = createHttpServer({ logger: createLogger({ level: 'silent' }), components: () => [], bodyLimit: 100 });
    app.post('/echo', async (request) => request.body);
    const small = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ a: 'x'.repeat(50) }) });
    expect(small.statusCode).toBe(200);
    const large = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ a: 'x'.repeat(200) }) });
    expect(large.statusCode).toBe(413);
    expect(large.json()).toMatchObject({ error: { code: 'EDA_BODY_TOO_LARGE', details: { limit: 100 } } });
    await app.close();
  });
});
