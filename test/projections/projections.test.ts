import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { enrichOrderSummary } from '../../definitions/handlers/orders.js';
import type { Definitions } from '../../runtime/definitions/index.js';
import type { Envelope } from '../../runtime/envelope/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import { rebuildProjection, type ProjectionContext } from '../../runtime/projections/index.js';
import type { Database } from '../../runtime/store/database.js';
import { ensureServers } from '../servers/servers.mjs';
import { definitionsFrom, event, eventually, exampleDefinitions, logger, openTestDatabase, openStack, start, type DatabaseKind, type Stack } from './support.js';

const ITEMS = `
edaflow: 1
topics: { items: {} }
events:
  ItemAdded:   { topic: items, versions: { 1: { schema: { type: object, required: [name], properties: { name: { type: string }, tags: {} } } } } }
  ItemTouched: { topic: items, versions: { 1: { schema: { type: object } } } }
  ItemRenamed: { topic: items, versions: { 1: { schema: { type: object, required: [name], properties: { name: { type: string } } } } } }
  ItemRemoved: { topic: items, versions: { 1: { schema: { type: object } } } }
projections:
  Items:
    table: items
    key: [id]
    columns: { id: text, name: text, touches: integer, tags: jsonb, added_on: date, updated_at: timestamptz }
    on:
      ItemAdded:   { upsert: { id: "{% subject %}", name: "{% data.name %}", touches: 0, tags: "{% data.tags %}", added_on: "{% $substring(time, 0, 10) %}", updated_at: "{% time %}" } }
      ItemTouched: { update: { touches: "{% row.touches + 1 %}", updated_at: "{% time %}" }, where: { id: "{% subject %}" } }
      ItemRenamed: { update: { name: "{% data.name %}" }, where: { id: "{% subject %}" } }
      ItemRemoved: { delete: { id: "{% subject %}" } }
`;

const ORDER = 'o-1';

function orderCreated(orderId: string, customerId: string, items: { sku: string; quantity: number; price: number }[], time?: string): Envelope {
  const address = { line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };
  return event('OrderCreated', orderId, { orderId, customerId, items, shippingAddress: address, billingAddress: { ...address, country: 'GB' } }, time);
}

async function rowsOf(database: Database, table: string): Promise<Record<string, unknown>[]> {
  return (await database.query(`select * from ${table} order by 1`)).rows;
}

async function checkpoint(database: Database, name: string): Promise<number> {
  const { rows } = await database.query<{ position: string }>('select position from edaflow_projection_checkpoints where name = $1', [name]);
  return Number(rows[0]?.position ?? -1);
}

describe.each<DatabaseKind>(['embedded', 'postgres'])('projections on %s', (kind) => {
  let database: Database;
  let dispose: () => Promise<void>;
  let example: Definitions;
  let exampleStack: Stack;
  let itemsStack: Stack;

  beforeAll(async () => {
    if (kind === 'postgres') await ensureServers(['postgres']);
    ({ database, dispose } = await openTestDatabase(kind));
    example = await exampleDefinitions();
    exampleStack = await openStack(example, database);
    itemsStack = await openStack(await definitionsFrom(ITEMS), database);
  }, 120_000);

  afterAll(async () => {
    await exampleStack?.messaging.stop();
    await itemsStack?.messaging.stop();
    await dispose?.();
    await database?.close();
  });

  it('applies OrderSummary live: upsert, update, the hook in the same transaction; positions() follows', async () => {
    const stack = exampleStack;
    const projections = await start(stack, { enrichOrderSummary } as unknown as HandlerFunctions);
    try {
      await stack.store.append(ORDER, [orderCreated(ORDER, 'c-1', [{ sku: 'A', quantity: 3, price: 9.95 }, { sku: 'B', quantity: 1, price: 0.1 }], '2026-01-02T03:04:05.678Z')], { expectedVersion: 'no-stream' });
      const created = await eventually(async () => {
        const rows = await rowsOf(database, 'order_summary');
        expect(rows).toHaveLength(1);
        return rows[0]!;
      });
      // 9.95 × 3 + 0.1 is 29.950000000000003 in binary floating point: the hook rounded it, in the row's transaction.
      expect(created).toMatchObject({ id: ORDER, customer_id: 'c-1', status: 'pending', item_count: 4, ship_to_country: 'US' });
      expect(String(created['total'])).toBe('29.95');
      expect(new Date(created['created_at'] as Date).toISOString()).toBe('2026-01-02T03:04:05.678Z');

      const confirmed = await stack.store.append(ORDER, [event('OrderConfirmed', ORDER, { orderId: ORDER })], { expectedVersion: 1 });
      await eventually(async () => expect((await rowsOf(database, 'order_summary'))[0]).toMatchObject({ status: 'confirmed' }));
      await stack.store.append(ORDER, [event('OrderCancelled', ORDER, { orderId: ORDER, reason: 'changed my mind', previousStatus: 'confirmed' })], { expectedVersion: 2 });
      await eventually(async () => expect((await rowsOf(database, 'order_summary'))[0]).toMatchObject({ status: 'cancelled', cancel_reason: 'changed my mind' }));
      const positions = await projections.positions();
      expect(positions['OrderSummary']).toBeGreaterThan(confirmed.positions[0]!);
      expect(positions['OrderSummary']).toBe(await checkpoint(database, 'OrderSummary'));
    } finally {
      await projections.stop();
    }
  });

  it('upsert replaces, update may read the row before, delete removes; jsonb, date and timestamptz survive', async () => {
    const stack = itemsStack;
    const projections = await start(stack, {});
    try {
      const append = (streamId: string, ...events: Envelope[]) => stack.store.append(streamId, events, { expectedVersion: 'any' });
      await append('i-1', event('ItemAdded', 'i-1', { name: 'first', tags: ['a', 'b'] }, '2026-03-04T23:30:00.000Z'), event('ItemTouched', 'i-1', {}), event('ItemTouched', 'i-1', {}));
      await append('i-2', event('ItemAdded', 'i-2', { name: 'second' }), event('ItemRenamed', 'i-2', { name: 'renamed' }));
      await append('i-3', event('ItemAdded', 'i-3', { name: 'third' }), event('ItemRemoved', 'i-3', {}));
      // An upsert of an existing key replaces the columns it names.
      await append('i-1', event('ItemAdded', 'i-1', { name: 'first again', tags: { nested: true } }, '2026-03-05T00:00:00.000Z'));
      // An update or delete of a key with no row changes nothing.
      await append('i-9', event('ItemRenamed', 'i-9', { name: 'ghost' }), event('ItemRemoved', 'i-9', {}));
      const rows = await eventually(async () => {
        const rows = await rowsOf(database, 'items');
        expect(rows.map((row) => row['name'])).toEqual(['first again', 'renamed']);
        return rows;
      });
      expect(rows[0]).toMatchObject({ id: 'i-1', touches: 0, tags: { nested: true } });
      expect(rows[1]).toMatchObject({ id: 'i-2', touches: 0, tags: null });
      const { rows: typed } = await database.query<{ added_on: string; updated_at: string }>(`select added_on::text, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as updated_at from items where id = 'i-1'`);
      expect(typed[0]).toEqual({ added_on: '2026-03-05', updated_at: '2026-03-05T00:00:00' });
    } finally {
      await projections.stop();
    }
  });

  it('update with `row` counts on the row before: two touches make 2', async () => {
    const stack = itemsStack;
    const projections = await start(stack, {});
    try {
      await stack.store.append('i-4', [event('ItemAdded', 'i-4', { name: 'four' }), event('ItemTouched', 'i-4', {}), event('ItemTouched', 'i-4', {})], { expectedVersion: 'no-stream' });
      await eventually(async () => expect((await database.query(`select touches from items where id = 'i-4'`)).rows).toEqual([{ touches: 2 }]));
    } finally {
      await projections.stop();
    }
  });

  it('consecutive upserts (one multi-row statement when they can be): a key upserted twice ends with the later values', async () => {
    const stack = itemsStack;
    const projections = await start(stack, {});
    try {
      const added = (id: string, name: string, tags?: unknown) => event('ItemAdded', id, { name, ...(tags !== undefined ? { tags } : {}) });
      await stack.store.append('batch-1', [added('i-6', 'six'), added('i-7', 'seven', [1]), added('i-8', 'eight'), added('i-6', 'six again', ['x']), added('i-7', 'seven again')], { expectedVersion: 'no-stream' });
      await eventually(async () =>
        expect((await database.query(`select id, name, tags from items where id in ('i-6', 'i-7', 'i-8') order by id`)).rows).toEqual([
          { id: 'i-6', name: 'six again', tags: ['x'] },
          // An upsert sets the columns it has values for: the second i-7 has no tags, so the first one's stay.
          { id: 'i-7', name: 'seven again', tags: [1] },
          { id: 'i-8', name: 'eight', tags: null },
        ]),
      );
    } finally {
      await projections.stop();
    }
  });

  it('a throwing hook rolls back its row change and the checkpoint; the events before it are kept, and it resumes once the hook succeeds', async () => {
    const stack = exampleStack;
    let failing = true;
    const hook = async (message: Envelope, context: ProjectionContext): Promise<void> => {
      await enrichOrderSummary(message as never, context);
      if (failing && (message.data as { customerId?: string }).customerId === 'c-throw') throw new Error('hook says no');
    };
    const before = await checkpoint(database, 'OrderSummary');
    const good = await stack.store.append('o-good', [orderCreated('o-good', 'c-2', [{ sku: 'A', quantity: 1, price: 1 }])], { expectedVersion: 'no-stream' });
    await stack.store.append('o-bad', [orderCreated('o-bad', 'c-throw', [{ sku: 'A', quantity: 1, price: 1 }])], { expectedVersion: 'no-stream' });
    const projections = await start(stack, { enrichOrderSummary: hook } as unknown as HandlerFunctions);
    try {
      await eventually(async () => expect(await checkpoint(database, 'OrderSummary')).toBe(good.positions[0]));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(before).toBeLessThan(good.positions[0]!);
      expect(await checkpoint(database, 'OrderSummary')).toBe(good.positions[0]);
      const ids = (await rowsOf(database, 'order_summary')).map((row) => row['id']);
      expect(ids).toContain('o-good');
      expect(ids).not.toContain('o-bad');
      failing = false;
      await eventually(async () => expect((await rowsOf(database, 'order_summary')).map((row) => row['id'])).toContain('o-bad'), 30_000);
    } finally {
      await projections.stop();
    }
  }, 45_000);

  it('rebuild ends exactly equal to the live result, reporting progress', async () => {
    const stack = exampleStack;
    const functions = { enrichOrderSummary } as unknown as HandlerFunctions;
    const projections = await start(stack, functions);
    try {
      for (let i = 0; i < 30; i++) {
        const id = `o-r${i}`;
        await stack.store.append(id, [orderCreated(id, `c-${i % 4}`, [{ sku: 'A', quantity: 1 + (i % 3), price: 1.15 * i }])], { expectedVersion: 'no-stream' });
        if (i % 2) await stack.store.append(id, [event('OrderConfirmed', id, { orderId: id })], { expectedVersion: 1 });
        if (i % 5 === 0) await stack.store.append(id, [event('OrderCancelled', id, { orderId: id, reason: 'r', previousStatus: 'pending' })], { expectedVersion: 'any' });
      }
      const { rows: head } = await database.query<{ position: string }>(`select max(position) as position from edaflow_events`);
      await eventually(async () => expect((await projections.positions())['OrderSummary']).toBe(Number(head[0]!.position)));
    } finally {
      await projections.stop();
    }
    const live = await rowsOf(database, 'order_summary');
    const liveCheckpoint = await checkpoint(database, 'OrderSummary');
    await database.query(`update order_summary set status = 'tampered'`);

    const progress: [number, number][] = [];
    const result = await rebuildProjection({ definitions: example, database, store: stack.store, functions, logger, name: 'OrderSummary', pageSize: 7, onProgress: (done, total) => progress.push([done, total]) });
    const { rows: count } = await database.query<{ count: string }>(`select count(*) as count from edaflow_events where type in ('OrderCreated', 'OrderConfirmed', 'OrderCancelled', 'ShippingAddressChanged')`);
    expect(result.events).toBe(Number(count[0]!.count));
    expect(await rowsOf(database, 'order_summary')).toEqual(live);
    expect(await checkpoint(database, 'OrderSummary')).toBe(liveCheckpoint);
    expect(progress[0]).toEqual([0, result.events]);
    expect(progress.at(-1)).toEqual([result.events, result.events]);
    expect(progress.length).toBeGreaterThan(2);
  }, 60_000);

  it('refuses a table whose columns differ from the definitions, naming the column; a rebuild recreates it', async () => {
    const definitions = await definitionsFrom(ITEMS.replace('table: items', 'table: items_conflict').replace('  Items:', '  ConflictingItems:'));
    await database.query('create table items_conflict (id text primary key, name text, touches bigint, tags jsonb, added_on date, updated_at timestamptz)');
    const stack = await openStack(definitions, database);
    onTestFinished(() => stack.messaging.stop());
    const error = await start(stack, {}).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(isEdaflowError(error, 'EDA_PROJECTION_CONFLICT')).toBe(true);
    expect((error as Error).message).toMatch(/column touches is bigint, the definitions declare integer/);
    await rebuildProjection({ definitions, database, store: stack.store, functions: {}, logger, name: 'ConflictingItems' });
    const { rows } = await database.query(`select data_type from information_schema.columns where table_schema = current_schema() and table_name = 'items_conflict' and column_name = 'touches'`);
    expect(rows).toEqual([{ data_type: 'integer' }]);
    const projections = await start(stack, {});
    await projections.stop();
  });

  it('refuses to rebuild a projection fed from a topic', async () => {
    const error = await rebuildProjection({ definitions: example, database, store: exampleStack.store, functions: {}, logger, name: 'PaymentStatus' }).catch((reason: unknown) => reason);
    expect(isEdaflowError(error, 'EDA_REBUILD_UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toMatch(/topic payments/);
  });

  it('one process at a time: a second runner waits for the lease, and takes over when the first stops', async () => {
    const stack = itemsStack;
    const first = await start(stack, {}, { owner: 'first' });
    const second = await start(stack, {}, { owner: 'second' });
    try {
      await stack.store.append('i-5', [event('ItemAdded', 'i-5', { name: 'five' })], { expectedVersion: 'no-stream' });
      await eventually(async () => expect((await database.query(`select name from items where id = 'i-5'`)).rows).toEqual([{ name: 'five' }]));
      const { rows: holders } = await database.query<{ owner: string }>(`select owner from edaflow_leases where name = 'projection:Items'`);
      expect(holders).toHaveLength(1);
      const holder = holders[0]!.owner;
      await (holder === 'first' ? first : second).stop();
      await stack.store.append('i-5', [event('ItemRenamed', 'i-5', { name: 'five, renamed' })], { expectedVersion: 1 });
      await eventually(async () => expect((await database.query(`select name from items where id = 'i-5'`)).rows).toEqual([{ name: 'five, renamed' }]));
      const { rows: after } = await database.query<{ owner: string }>(`select owner from edaflow_leases where name = 'projection:Items'`);
      expect(after).toEqual([{ owner: holder === 'first' ? 'second' : 'first' }]);
    } finally {
      await first.stop();
      await second.stop();
    }
  });
});
