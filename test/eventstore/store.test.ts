import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Definitions } from '../../runtime/definitions/index.js';
import { isEdaflowError, type EdaflowError } from '../../runtime/errors/index.js';
import { LOG_START, type LogCursor, type PagedEvent, type RecordedEvent } from '../../runtime/eventstore/index.js';
import type { Database } from '../../runtime/store/database.js';
import { migration as eventStoreMigration } from '../../runtime/store/migrations/002-event-store.js';
import { MIGRATIONS, migrate } from '../../runtime/store/migrations/index.js';
import { ensureServers } from '../servers/servers.mjs';
import { itemAdded, itemRemoved, loadTestDefinitions, startStore, testDatabase, uniqueStream, type StoreUnderTest } from './setup.js';

async function rejection(promise: Promise<unknown>): Promise<EdaflowError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isEdaflowError(error)) throw new Error(`expected an EdaflowError, got ${String(error)}`);
  return error;
}

async function countEvents(database: Database, streamId?: string): Promise<number> {
  const { rows } = await database.query<{ n: number }>(`select count(*)::int as n from edaflow_events ${streamId ? 'where stream_id = $1' : ''}`, streamId ? [streamId] : []);
  return rows[0]!.n;
}

async function countTopicMessages(database: Database): Promise<number> {
  const { rows } = await database.query<{ n: number }>(`select count(*)::int as n from edaflow_topic_messages`);
  return rows[0]!.n;
}

/** Everything readAll returns from `after` on, page by page, and where reading would continue. */
async function readEverything(under: StoreUnderTest, after: LogCursor = LOG_START, pageSize = 7): Promise<PagedEvent[] & { next: LogCursor }> {
  const all: PagedEvent[] = [];
  for (;;) {
    const page = await under.store.readAll({ after, limit: pageSize });
    after = page.next;
    if (!page.events.length) return Object.assign(all, { next: after });
    all.push(...page.events);
  }
}

function gate(): { promise: Promise<void>; open(): void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** The same suite on PostgreSQL and on the embedded PGlite (DESIGN.md: they run the same SQL). */
describe.each(['postgres', 'embedded'] as const)('event store on %s', (kind) => {
  // Tests of races only a server can have are registered for PostgreSQL alone (not skipped elsewhere).
  const onServer = (name: string, test: () => Promise<void>): void => {
    if (kind === 'postgres') it(name, test);
  };
  const db = testDatabase(kind);
  let database: Database;
  let definitions: Definitions;
  let under: StoreUnderTest;

  beforeAll(async () => {
    if (kind === 'postgres') await ensureServers(['postgres']);
    database = await db.open();
    definitions = await loadTestDefinitions();
    under = await startStore(database, definitions);
  }, 120_000);

  afterAll(async () => {
    await under?.stop();
    await database?.close();
    await db.destroy();
  });

  it('appends with an expected version and reads the stream back, from any version', async () => {
    const stream = uniqueStream();
    const first = [itemAdded('a', stream), itemAdded('b', stream)];
    const appended = await under.store.append(stream, first, { expectedVersion: 'no-stream', streamType: 'Cart' });
    expect(appended.nextExpectedVersion).toBe(2);
    expect(appended.positions).toHaveLength(2);
    expect(appended.positions[1]!).toBeGreaterThan(appended.positions[0]!);
    const next = await under.store.append(stream, [itemRemoved('a', stream)], { expectedVersion: 2 });
    expect(next.nextExpectedVersion).toBe(3);

    const events = await under.store.readStream(stream);
    expect(events.map((e) => [e.version, e.envelope.type])).toEqual([[1, 'ItemAdded'], [2, 'ItemAdded'], [3, 'ItemRemoved']]);
    expect(events[0]!.envelope).toEqual(first[0]);
    expect(events[0]!.streamId).toBe(stream);
    expect(events.map((e) => e.position)).toEqual([...appended.positions, ...next.positions]);
    expect((await under.store.readStream(stream, { fromVersion: 3 })).map((e) => e.version)).toEqual([3]);
    expect(await under.store.streamVersion(stream)).toBe(3);
    expect(await under.store.streamVersion(uniqueStream())).toBe(0);
    expect(await under.store.readStream(uniqueStream())).toEqual([]);
  });

  it('refuses a stale expected version with EDA_CONCURRENCY_CONFLICT and writes nothing (events, topic)', async () => {
    const stream = uniqueStream();
    await under.store.append(stream, [itemAdded('a', stream), itemAdded('b', stream)], { expectedVersion: 'no-stream' });
    const [events, published] = [await countEvents(database), await countTopicMessages(database)];
    for (const expectedVersion of [1, 3, 'no-stream'] as const) {
      const error = await rejection(under.store.append(stream, [itemRemoved('a', stream), itemRemoved('b', stream)], { expectedVersion }));
      expect(error.code).toBe('EDA_CONCURRENCY_CONFLICT');
      expect(error.status).toBe(409);
      expect(error.retriable).toBe(true);
      expect(error.details).toEqual({ streamId: stream, expectedVersion, actualVersion: 2 });
    }
    expect(await countEvents(database)).toBe(events);
    expect(await countTopicMessages(database)).toBe(published);
    expect((await under.store.readStream(stream)).map((e) => e.version)).toEqual([1, 2]);
    // Appending nothing still checks the version.
    expect((await rejection(under.store.append(stream, [], { expectedVersion: 1 }))).code).toBe('EDA_CONCURRENCY_CONFLICT');
    expect(await under.store.append(stream, [], { expectedVersion: 2 })).toEqual({ nextExpectedVersion: 2, positions: [] });
    // 'any' appends at whatever version the stream is.
    expect((await under.store.append(stream, [itemRemoved('a', stream)], { expectedVersion: 'any' })).nextExpectedVersion).toBe(3);
  });

  it('refuses an invalid event, and an event appended twice, writing nothing', async () => {
    const stream = uniqueStream();
    const events = await countEvents(database);
    const bad = { ...itemAdded('a', stream), data: { sku: 'a' } };
    expect((await rejection(under.store.append(stream, [itemAdded('b', stream), bad], { expectedVersion: 'no-stream' }))).code).toBe('EDA_PAYLOAD_INVALID');
    expect((await rejection(under.store.append(stream, [itemAdded('b', stream, 1)], { expectedVersion: 'no-stream' }))).code).toBe('EDA_PAYLOAD_INVALID');
    const command = { ...itemAdded('a', stream), type: 'Restock', data: {} };
    expect((await rejection(under.store.append(stream, [command], { expectedVersion: 'no-stream' }))).code).toBe('EDA_UNKNOWN_TYPE');
    expect(await countEvents(database)).toBe(events);
    const event = itemAdded('c', stream);
    await under.store.append(stream, [event], { expectedVersion: 'no-stream' });
    expect((await rejection(under.store.append(uniqueStream(), [event], { expectedVersion: 'no-stream' }))).code).toBe('EDA_DUPLICATE_EVENT');
    expect(await countEvents(database)).toBe(events + 1);
  });

  it('appends a large batch in one call, numbered without gaps', async () => {
    const stream = uniqueStream();
    const batch = Array.from({ length: 1_234 }, (_, n) => itemAdded(`sku-${n}`, stream));
    const result = await under.store.append(stream, batch, { expectedVersion: 'no-stream' });
    expect(result.nextExpectedVersion).toBe(1_234);
    const read = await under.store.readStream(stream);
    expect(read.map((e) => e.version)).toEqual(batch.map((_, n) => n + 1));
    expect(read.map((e) => e.envelope.id)).toEqual(batch.map((e) => e.id));
    expect(read.map((e) => e.position)).toEqual(result.positions);
  });

  it('appends inside a caller\'s transaction: a rollback takes the events (and their publication) with it', async () => {
    const stream = uniqueStream();
    const [events, published] = [await countEvents(database), await countTopicMessages(database)];
    const failed = database.transaction(async (tx) => {
      await under.store.appendInTransaction(tx, stream, [itemAdded('a', stream)], { expectedVersion: 'no-stream' });
      expect(await under.store.streamVersion(stream, tx)).toBe(1);
      throw new Error('the caller changed its mind');
    });
    await expect(failed).rejects.toThrow('changed its mind');
    expect([await countEvents(database), await countTopicMessages(database)]).toEqual([events, published]);
    await database.transaction((tx) => under.store.appendInTransaction(tx, stream, [itemAdded('a', stream)], { expectedVersion: 0 }));
    expect(await under.store.streamVersion(stream)).toBe(1);
  });

  it('reads the whole log in pages, each event once, in the order appends committed; filters by type', async () => {
    const start = (await readEverything(under)).next;
    const streams = [uniqueStream(), uniqueStream(), uniqueStream()];
    const appended: string[] = [];
    for (let round = 0; round < 4; round++) {
      for (const stream of streams) {
        const events = [itemAdded(`s${round}`, stream), itemRemoved(`s${round}`, stream)];
        await under.store.append(stream, events, { expectedVersion: round * 2 });
        appended.push(...events.map((e) => e.id));
      }
    }
    await expect.poll(async () => (await readEverything(under, start, 5)).map((e) => e.envelope.id), { timeout: 15_000 }).toEqual(appended);
    const read = await readEverything(under, start, 5);
    const removed = await under.store.readAll({ after: start, limit: 100, types: ['ItemRemoved'] });
    expect(removed.events.map((e) => e.envelope.id)).toEqual(read.filter((e) => e.envelope.type === 'ItemRemoved').map((e) => e.envelope.id));
    expect((await under.store.readAll({ after: read.next, limit: 10 })).events).toEqual([]);
    // The whole log from 0 (it holds the large batch: positions crossing 100 and 1000 in one transaction).
    const { rows } = await database.query<{ event_id: string }>('select event_id from edaflow_events order by transaction_id, position');
    await expect.poll(async () => (await readEverything(under, LOG_START, 50)).map((e) => e.envelope.id), { timeout: 15_000 }).toEqual(rows.map((row) => row.event_id));
    // A saved position resumes where it was (its transaction id looked up); an unknown one is an error, not an endless nothing.
    expect((await readEverything(under, await under.store.cursorAt(read.at(-1)!.position))).map((e) => e.envelope.id)).toEqual([]);
    expect((await rejection(under.store.cursorAt(read.at(-1)!.position + 1_000_000))).code).toBe('EDA_UNKNOWN_POSITION');
  });

  // PGlite is one session: while a transaction is open every other statement waits for it, so a reader
  // can never see a later commit before an earlier-started transaction ends. The race needs a server.
  onServer('never skips an event committed out of order, and never waits for it: a later commit is read at once, the open transaction’s event when it commits', async () => {
    const start = (await readEverything(under)).next;
    const [early, late] = [uniqueStream(), uniqueStream()];
    const earlyAppended = gate();
    const releaseEarly = gate();
    const earlyTx = database.transaction(async (tx) => {
      await under.store.appendInTransaction(tx, early, [itemAdded('e', early)], { expectedVersion: 'no-stream' });
      earlyAppended.open();
      await releaseEarly.promise;
    });
    await earlyAppended.promise;
    await under.store.append(late, [itemAdded('l', late)], { expectedVersion: 'no-stream' });
    // Committed: read now, although a transaction with a lower id is still open.
    const first = await readEverything(under, start);
    expect(first.map((e) => e.streamId)).toEqual([late]);
    expect(first.next.late.size).toBeGreaterThan(0);
    releaseEarly.open();
    await earlyTx;
    // Continuing from there finds the early event behind it, once; a reader from the start sees both, in commit-safe order.
    await expect.poll(async () => (await readEverything(under, first.next)).map((e) => e.streamId), { timeout: 10_000 }).toEqual([early]);
    const afterBoth = (await readEverything(under, first.next)).next;
    expect((await readEverything(under, afterBoth)).map((e) => e.streamId)).toEqual([]);
    expect((await readEverything(under, start)).map((e) => e.streamId)).toEqual([early, late]);
  });

  onServer('never skips an event committed out of order: a transaction with a newer id but a lower position is read after the checkpoint passed it', async () => {
    const start = (await readEverything(under)).next;
    const [older, newer] = [uniqueStream(), uniqueStream()];
    const olderHasId = gate();
    const newerAppended = gate();
    const releaseNewer = gate();
    let newerPosition = 0;
    // The older transaction takes its id first but appends (takes its position) after the newer one.
    const olderTx = database.transaction(async (tx) => {
      await tx.query('select pg_current_xact_id()');
      olderHasId.open();
      await newerAppended.promise;
      await under.store.appendInTransaction(tx, older, [itemAdded('o', older)], { expectedVersion: 'no-stream' });
    });
    await olderHasId.promise;
    const newerTx = database.transaction(async (tx) => {
      newerPosition = (await under.store.appendInTransaction(tx, newer, [itemAdded('n', newer)], { expectedVersion: 'no-stream' })).positions[0]!;
      newerAppended.open();
      await releaseNewer.promise;
    });
    await olderTx;
    // The older one committed with a higher position while the newer one (lower position) is still open.
    await expect.poll(async () => (await readEverything(under, start)).length, { timeout: 10_000 }).toBe(1);
    const [first] = await readEverything(under, start);
    expect(first!.streamId).toBe(older);
    expect(first!.position).toBeGreaterThan(newerPosition);
    releaseNewer.open();
    await newerTx;
    // Resuming after the checkpoint (the older one's higher position) still finds the lower position.
    await expect.poll(async () => (await readEverything(under, await under.store.cursorAt(first!.position))).map((e) => [e.streamId, e.position]), { timeout: 10_000 }).toEqual([[newer, newerPosition]]);
    const { rows } = await database.query('select 1 from edaflow_events where stream_id = $1 and position > $2', [newer, first!.position]);
    expect(rows).toEqual([]); // what a reader resuming by position alone would have found: nothing
  });

  it('upcasts old versions on read, and never changes the stored row', async () => {
    const stream = uniqueStream();
    const old = await startStore(database, await loadTestDefinitions({ withVersion2: false }));
    let position: number;
    try {
      const written = itemAdded('old', stream, 1);
      position = (await old.store.append(stream, [written], { expectedVersion: 'no-stream' })).positions[0]!;
      expect((await old.store.readStream(stream))[0]!.envelope.data).toEqual({ sku: 'old', name: 'item old' });
    } finally {
      await old.stop();
    }
    const [read] = await under.store.readStream(stream);
    expect(read!.envelope.dataversion).toBe(2);
    expect(read!.envelope.data).toEqual({ sku: 'old', title: 'item old', quantity: 1 });
    const viaLog = (await readEverything(under)).find((e) => e.position === position);
    expect(viaLog!.envelope).toEqual(read!.envelope);
    const { rows } = await database.query<{ data: unknown; data_version: number }>('select data, data_version from edaflow_events where position = $1', [position]);
    expect(rows[0]).toEqual({ data: { sku: 'old', name: 'item old' }, data_version: 1 });
  });

  it('saves and loads snapshots, keeping the newest', async () => {
    const stream = uniqueStream();
    expect(await under.store.loadSnapshot(stream)).toBeUndefined();
    await under.store.saveSnapshot(stream, 5, { items: ['a'], total: 3.5 });
    expect(await under.store.loadSnapshot(stream)).toEqual({ version: 5, state: { items: ['a'], total: 3.5 } });
    await under.store.saveSnapshot(stream, 3, { items: [] });
    expect(await under.store.loadSnapshot(stream)).toEqual({ version: 5, state: { items: ['a'], total: 3.5 } });
    await database.transaction((tx) => under.store.saveSnapshot(stream, 8, { items: ['a', 'b'] }, tx));
    expect(await database.transaction((tx) => under.store.loadSnapshot(stream, tx))).toEqual({ version: 8, state: { items: ['a', 'b'] } });
  });

  it('tells listeners about appends once they commit', async () => {
    const stream = uniqueStream();
    let heard = 0;
    const unsubscribe = await under.store.onAppend(() => heard++);
    try {
      await under.store.append(stream, [itemAdded('a', stream)], { expectedVersion: 'no-stream' });
      await expect.poll(() => heard, { timeout: 5_000 }).toBeGreaterThan(0);
    } finally {
      await unsubscribe();
    }
  });

  it('migrates idempotently: again on the same database, statement by statement, and on reopening', async () => {
    expect(MIGRATIONS.map((m) => m.id)).toContain('002-event-store');
    expect(await migrate(database)).toEqual([]);
    await database.transaction(async (tx) => {
      for (const statement of eventStoreMigration.statements) await tx.query(statement);
    });
    const events = await countEvents(database);
    expect(events).toBeGreaterThan(0);
    if (kind === 'postgres') {
      const again = await db.open();
      try {
        expect(await countEvents(again)).toBe(events);
      } finally {
        await again.close();
      }
    }
  });
});
