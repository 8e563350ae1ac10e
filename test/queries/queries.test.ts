import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrichOrderSummary } from '../../definitions/handlers/orders.js';
import type { Envelope } from '../../runtime/envelope/index.js';
import { EdaflowError, isEdaflowError } from '../../runtime/errors/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import type { ProjectionContext, Projections } from '../../runtime/projections/index.js';
import { createQueryService, type QueryService } from '../../runtime/queries/index.js';
import type { Database } from '../../runtime/store/database.js';
import { ensureServers } from '../servers/servers.mjs';
import { definitionsFrom, event, eventually, openStack, openTestDatabase, start, type DatabaseKind, type Stack } from '../projections/support.js';

/** The example's read side with two additions: a typed query function, and a list query with no `where`. */
const DEFINITIONS = `
edaflow: 1
topics: { orders: {} }
events:
  OrderCreated:
    topic: orders
    versions:
      1: { schema: { type: object, required: [orderId, customerId, total], properties: { orderId: { type: string }, customerId: { type: string }, total: { type: number } } } }
  OrderConfirmed: { topic: orders, versions: { 1: { schema: { type: object } } } }
projections:
  OrderSummary:
    table: order_summary
    key: [id]
    columns: { id: text, customer_id: text, status: text, total: numeric, big: bigint, huge: numeric, ratio: double precision, paid: boolean, created_at: timestamptz, due_on: date, extra: jsonb }
    on:
      OrderCreated:
        upsert:
          id: "{% subject %}"
          customer_id: "{% data.customerId %}"
          status: pending
          total: "{% data.total %}"
          big: "9007199254740993"
          huge: "123456789012345678901234567890.5"
          ratio: 0.25
          paid: false
          created_at: "{% time %}"
          due_on: "2026-12-24"
          extra: { source: "{% source %}" }
      OrderConfirmed: { update: { status: confirmed }, where: { id: "{% subject %}" } }
queries:
  orderById: { projection: OrderSummary, where: { id: "{% params.id %}" }, single: true }
  ordersByCustomer: { projection: OrderSummary, where: { customer_id: "{% params.customerId %}" }, orderBy: created_at desc, limit: 2 }
  ordersByStatus: { projection: OrderSummary, where: { customer_id: "{% params.customerId %}", status: "{% params.status %}" }, orderBy: "total asc, id" }
  allOrders: { projection: OrderSummary, orderBy: id }
  ordersOfTotal: { projection: OrderSummary, where: { total: "{% params.total %}" } }
  customerTotals: { projection: OrderSummary, handler: customerTotals }
`;

/** A typed query function: SQL over the projection's table through the ProjectionContext. */
async function customerTotals(params: Readonly<Record<string, string>>, context: ProjectionContext): Promise<unknown> {
  if (!params['customerId']) throw new EdaflowError('EDA_QUERY_INVALID', 'customerTotals needs the parameter customerId');
  const { rows } = await context.query('select count(*)::int as orders, sum(total)::text as total from order_summary where customer_id = $1', [params['customerId']]);
  return rows[0];
}

function created(orderId: string, customerId: string, total: number, time: string): Envelope {
  return event('OrderCreated', orderId, { orderId, customerId, total }, time);
}

async function rejection(promise: Promise<unknown>): Promise<EdaflowError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isEdaflowError(error)) throw new Error(`expected an EdaflowError, got ${String(error)}`);
  return error;
}

describe.each<DatabaseKind>(['embedded', 'postgres'])('queries on %s', (kind) => {
  let database: Database;
  let dispose: () => Promise<void>;
  let stack: Stack;
  let projections: Projections;
  let queries: QueryService;

  beforeAll(async () => {
    if (kind === 'postgres') await ensureServers(['postgres']);
    ({ database, dispose } = await openTestDatabase(kind));
    stack = await openStack(await definitionsFrom(DEFINITIONS), database);
    const functions = { customerTotals } as unknown as HandlerFunctions;
    projections = await start(stack, functions);
    await stack.store.append('o-1', [created('o-1', 'c-1', 10.5, '2026-01-01T10:00:00.000Z')], { expectedVersion: 'no-stream' });
    await stack.store.append('o-2', [created('o-2', 'c-1', 2.25, '2026-01-02T10:00:00.000Z'), event('OrderConfirmed', 'o-2', {})], { expectedVersion: 'no-stream' });
    await stack.store.append('o-3', [created('o-3', 'c-1', 7, '2026-01-03T10:00:00.000Z')], { expectedVersion: 'no-stream' });
    await stack.store.append('o-4', [created('o-4', 'c-2', 1, '2026-01-04T10:00:00.000Z')], { expectedVersion: 'no-stream' });
    await eventually(async () => expect((await database.query(`select id, status from order_summary order by id`)).rows.map((row) => `${row['id']} ${row['status']}`)).toEqual(['o-1 pending', 'o-2 confirmed', 'o-3 pending', 'o-4 pending']));
    queries = createQueryService({ definitions: stack.definitions, database, functions });
  }, 120_000);

  afterAll(async () => {
    await projections?.stop();
    await stack?.messaging.stop();
    await dispose?.();
    await database?.close();
  });

  it('single: the row, with numbers as JSON numbers where exact, timestamps as ISO strings, dates as days', async () => {
    const row = await queries.run('orderById', { id: 'o-1' });
    expect(row).toEqual({
      id: 'o-1',
      customer_id: 'c-1',
      status: 'pending',
      total: 10.5,
      big: '9007199254740993',
      huge: '123456789012345678901234567890.5',
      ratio: 0.25,
      paid: false,
      created_at: '2026-01-01T10:00:00.000Z',
      due_on: '2026-12-24',
      extra: { source: 'test' },
    });
  });

  it('single with no row: EDA_NOT_FOUND (404)', async () => {
    const error = await rejection(queries.run('orderById', { id: 'o-404' }));
    expect(error.code).toBe('EDA_NOT_FOUND');
    expect(error.status).toBe(404);
    expect(error.message).toContain('id="o-404"');
  });

  it('a missing parameter: EDA_QUERY_INVALID (400) naming it', async () => {
    const error = await rejection(queries.run('orderById', {}));
    expect(error.code).toBe('EDA_QUERY_INVALID');
    expect(error.status).toBe(400);
    expect(error.message).toBe('orderById needs the parameter id');
    expect((await rejection(queries.run('ordersByStatus', { customerId: 'c-1' }))).message).toBe('ordersByStatus needs the parameter status');
  });

  it('a list, in orderBy order, at most limit rows', async () => {
    const rows = (await queries.run('ordersByCustomer', { customerId: 'c-1' })) as Record<string, unknown>[];
    expect(rows.map((row) => row['id'])).toEqual(['o-3', 'o-2']);
    expect(await queries.run('ordersByCustomer', { customerId: 'c-9' })).toEqual([]);
  });

  it('several conditions and several sort columns; no where lists everything', async () => {
    const pending = (await queries.run('ordersByStatus', { customerId: 'c-1', status: 'pending' })) as Record<string, unknown>[];
    expect(pending.map((row) => [row['id'], row['total']])).toEqual([['o-3', 7], ['o-1', 10.5]]);
    const all = (await queries.run('allOrders', {})) as Record<string, unknown>[];
    expect(all.map((row) => row['id'])).toEqual(['o-1', 'o-2', 'o-3', 'o-4']);
  });

  it('a typed query function gets the parameters and SQL', async () => {
    expect(await queries.run('customerTotals', { customerId: 'c-1' })).toEqual({ orders: 3, total: '19.75' });
    expect((await rejection(queries.run('customerTotals', {}))).code).toBe('EDA_QUERY_INVALID');
  });

  it('a parameter the column type cannot take: EDA_QUERY_INVALID (400); one it can, compared as that type', async () => {
    const error = await rejection(queries.run('ordersOfTotal', { total: 'lots' }));
    expect(error.code).toBe('EDA_QUERY_INVALID');
    expect(error.message).toMatch(/^ordersOfTotal: invalid input syntax for type numeric/);
    expect(((await queries.run('ordersOfTotal', { total: '7.00' })) as Record<string, unknown>[]).map((row) => row['id'])).toEqual(['o-3']);
  });

  it('an unknown query: EDA_NOT_FOUND', async () => {
    expect((await rejection(queries.run('nope', {}))).code).toBe('EDA_NOT_FOUND');
  });

  it('parameters are values, never SQL', async () => {
    expect(await queries.run('ordersByCustomer', { customerId: "c-1' or '1'='1" })).toEqual([]);
  });
});
