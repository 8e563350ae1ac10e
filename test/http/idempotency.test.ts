import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdaflowError } from '../../runtime/errors/index.js';
import { answerIdempotently, IdempotencyStore } from '../../runtime/http/idempotency.js';
import { createHttpServer, type HttpResponse } from '../../runtime/http/server.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { openDatabase, type Database } from '../../runtime/store/database.js';

const POSTGRES_URL = process.env['EDAFLOW_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The same cases on both databases the runtime supports: a private schema on PostgreSQL, a fresh PGlite directory. */
const kinds = [
  {
    kind: 'postgres',
    async open() {
      const schema = `edaflow_http_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      const database = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema });
      return {
        database,
        destroy: async () => {
          await database.close();
          const client = new pg.Client(POSTGRES_URL);
          await client.connect();
          await client.query(`drop schema ${schema} cascade`);
          await client.end();
        },
      };
    },
  },
  {
    kind: 'embedded',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'edaflow-http-idem-'));
      const database = await openDatabase({ type: 'embedded', path: dir });
      return { database, destroy: async () => (await database.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(kinds)('Idempotency-Key records on $kind', ({ open }) => {
  let database: Database;
  let destroy: () => Promise<void>;
  beforeAll(async () => ({ database, destroy } = await open()), 120_000);
  afterAll(async () => destroy?.());

  it('replays the completed response for the same fingerprint, refuses another (422) and an in-flight one (409)', async () => {
    const store = new IdempotencyStore(database, { ttlMs: 60_000 });
    const key = randomUUID();
    const claim = await store.claim('alice', key, 'fp-1');
    expect(claim.kind).toBe('claimed');
    await expect(store.claim('alice', key, 'fp-1')).rejects.toMatchObject({ code: 'EDA_IDEMPOTENCY_BUSY', status: 409 });
    if (claim.kind === 'claimed') await claim.complete({ status: 201, body: { id: 'x', nested: { a: [1, 2] } } });
    expect(await store.claim('alice', key, 'fp-1')).toEqual({ kind: 'replay', response: { status: 201, body: { id: 'x', nested: { a: [1, 2] } } } });
    await expect(store.claim('alice', key, 'fp-2')).rejects.toMatchObject({ code: 'EDA_IDEMPOTENCY_MISMATCH', status: 422 });
    // Keys are per caller: bob's use of the same key is his own.
    expect((await store.claim('bob', key, 'fp-2')).kind).toBe('claimed');
  });

  it('frees a released key, reuses an expired one for anything, and lets a retry take over a dead holder', async () => {
    const store = new IdempotencyStore(database, { ttlMs: 300, lockMs: 150 });
    const released = randomUUID();
    const claim = await store.claim('', released, 'fp-1');
    if (claim.kind === 'claimed') await claim.release();
    expect((await store.claim('', released, 'fp-2')).kind).toBe('claimed');

    const expiring = randomUUID();
    const first = await store.claim('', expiring, 'fp-1');
    if (first.kind === 'claimed') await first.complete({ status: 200, body: {} });
    await sleep(400);
    expect((await store.claim('', expiring, 'fp-other')).kind).toBe('claimed');

    // A record that outlives its holder's lock by far: the test does not depend on how fast a loaded machine is.
    const patient = new IdempotencyStore(database, { ttlMs: 60_000, lockMs: 150 });
    const abandoned = randomUUID();
    await patient.claim('', abandoned, 'fp-1'); // its process "dies": never completed nor released
    await sleep(200);
    await expect(patient.claim('', abandoned, 'fp-2')).rejects.toMatchObject({ code: 'EDA_IDEMPOTENCY_MISMATCH' });
    expect((await patient.claim('', abandoned, 'fp-1')).kind).toBe('claimed');
  });

  describe('over HTTP', () => {
    let app: FastifyInstance;
    let runs = 0;
    let next: () => Promise<HttpResponse> = async () => ({ status: 200, headers: {}, body: { run: runs } });
    beforeAll(async () => {
      const store = new IdempotencyStore(database, { ttlMs: 60_000 });
      app = createHttpServer({ logger: createLogger({ level: 'silent' }), components: () => [] });
      app.post('/work', async (request, reply) => {
        const { response } = await answerIdempotently(store, request, '', async () => {
          runs++;
          return next();
        });
        return reply.status(response.status).headers(response.headers).send(response.body);
      });
      await app.ready();
    });
    afterAll(async () => app?.close());
    const call = (key: string, body: unknown = { a: 1 }) => app.inject({ method: 'POST', url: '/work', headers: { 'idempotency-key': key }, payload: body as object });

    it('stores answers below 500 (a 4xx too) and runs again after a 5xx', async () => {
      const key = randomUUID();
      next = async () => {
        throw new EdaflowError('EDA_PAYLOAD_INVALID', 'no good', { details: { pointer: '/a' } });
      };
      const before = runs;
      const first = await call(key);
      const second = await call(key);
      expect([first.statusCode, second.statusCode]).toEqual([400, 400]);
      expect(second.json()).toEqual(first.json());
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(runs - before).toBe(1);

      const failing = randomUUID();
      next = async () => {
        throw new Error('the database went away');
      };
      expect((await call(failing)).statusCode).toBe(500);
      next = async () => ({ status: 202, headers: {}, body: { ok: true } });
      const retried = await call(failing);
      expect(retried.statusCode).toBe(202);
      expect(retried.headers['idempotent-replayed']).toBeUndefined();
    });

    it('answers 409 to the same key while the first request is still running, and 400 to a malformed key', async () => {
      const key = randomUUID();
      let finish!: () => void;
      next = () => new Promise((resolve) => (finish = () => resolve({ status: 200, headers: {}, body: { done: true } })));
      const first = call(key);
      await sleep(100);
      const concurrent = await call(key);
      expect(concurrent.statusCode).toBe(409);
      expect(concurrent.json().error.code).toBe('EDA_IDEMPOTENCY_BUSY');
      finish();
      expect((await first).statusCode).toBe(200);
      expect((await call(key)).json()).toEqual({ done: true });
      expect((await call('')).statusCode).toBe(400);
      expect((await call('x'.repeat(256))).json().error.code).toBe('EDA_REQUEST_INVALID');
    });
  });
});
