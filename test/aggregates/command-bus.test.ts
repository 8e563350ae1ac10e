import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregate, createCommandBus, loadState, type Aggregate, type CommandBus, type CommandResult } from '../../runtime/aggregates/index.js';
import { loadDefinitions, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { EdaflowError } from '../../runtime/errors/index.js';
import { createEventStore, type EventStore } from '../../runtime/eventstore/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox } from '../../runtime/outbox/index.js';
import type { Database } from '../../runtime/store/database.js';
import handlers from '../../definitions/handlers/index.js';
import { openTestEmbedded, openTestPostgres } from '../conformance/adapters/postgres.js';
import { ensureServers } from '../servers/servers.mjs';

const address = (line1: string) => ({ line1, city: 'Bristol', postalCode: 'BS1 5TR', country: 'GB' });
const createOrder = (orderId: string) => ({
  orderId,
  customerId: 'c-42',
  items: [{ sku: 'TSHIRT-M-BLUE', quantity: 2, price: 19.5 }, { sku: 'MUG-WHITE', quantity: 1, price: 8 }],
  shippingAddress: address('5 Harbour Rd'),
  billingAddress: address('5 Harbour Rd'),
});
const command = (type: string, data: unknown): Envelope => createEnvelope(type, data, 'test-client');
let orders = 0;
const nextOrderId = () => `o-${Date.now().toString(36)}-${++orders}`;

interface Harness {
  readonly bus: CommandBus;
  /** The Order decider, built like the bus builds its own, to load state the way the bus does. */
  readonly order: Aggregate;
  readonly store: EventStore;
  readonly definitions: Definitions;
  /** JSON log lines (debug level), to count conflict retries. */
  readonly logs: string[];
  close(): Promise<void>;
}

/** The command bus over the real event store, its outbox writing to the example's postgres broker on `database`. */
async function openHarness(database: Database): Promise<Harness> {
  const definitions = (await loadDefinitions('definitions')).definitions!;
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(line) } });
  const messaging: Messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
  const outbox = createOutbox({ database, publisher: messaging.publisher, brokers: messaging.brokers, plan: messaging.plan });
  const store = createEventStore({ database, catalog: messaging.catalog, outbox });
  const bus = createCommandBus({ definitions, catalog: messaging.catalog, store, functions: handlers as unknown as HandlerFunctions, logger });
  const order = createAggregate(definitions.aggregates.get('Order')!, { catalog: messaging.catalog, functions: handlers as unknown as HandlerFunctions, source: definitions.defaults.source });
  return { bus, order, store, definitions, logs, close: () => messaging.stop() };
}

async function outcome(promise: Promise<CommandResult>): Promise<CommandResult | EdaflowError> {
  return promise.catch((error: unknown) => {
    if (error instanceof EdaflowError) return error;
    throw error;
  });
}

const backends: [string, () => Promise<{ database: Database; dispose: () => Promise<void> }>][] = [
  ['embedded PGlite', () => openTestEmbedded()],
  ['PostgreSQL', async () => {
    await ensureServers(['postgres']);
    return openTestPostgres();
  }],
];

describe.each(backends)('the command bus on %s', (_name, open) => {
  let database: Database;
  let dispose: () => Promise<void>;
  let harness: Harness;

  beforeAll(async () => {
    ({ database, dispose } = await open());
    harness = await openHarness(database);
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await dispose?.();
    await database?.close();
  });

  it('runs an order through create → confirm → cancel, and a rejection appends nothing', async () => {
    const { bus, store } = harness;
    const orderId = nextOrderId();
    expect(bus.handles('CreateOrder')).toBe(true);
    expect(bus.handles('ReserveInventory')).toBe(false);
    const create = command('CreateOrder', createOrder(orderId));
    const created = await bus.execute(create);
    expect(created).toMatchObject({ streamId: orderId, version: 1 });
    expect(created.events[0]).toMatchObject({ type: 'OrderCreated', subject: orderId, causationid: create.id });
    expect(await bus.execute(command('ConfirmOrder', { orderId }))).toMatchObject({ version: 2 });
    expect(await bus.execute(command('CancelOrder', { orderId, reason: 'Changed my mind' }))).toMatchObject({ version: 3 });

    const rejected = await outcome(bus.execute(command('CancelOrder', { orderId, reason: 'again' })));
    expect(rejected).toMatchObject({ code: 'EDA_COMMAND_REJECTED', status: 409, message: 'Cannot cancel order in current status' });
    const typed = await outcome(bus.execute(command('ChangeShippingAddress', { orderId, shippingAddress: address('1 New St') })));
    expect(typed).toMatchObject({ code: 'EDA_COMMAND_REJECTED', message: `order ${orderId} is cancelled: its address cannot change` });

    const stream = await store.readStream(orderId);
    expect(stream.map((event) => [event.version, event.envelope.type])).toEqual([[1, 'OrderCreated'], [2, 'OrderConfirmed'], [3, 'OrderCancelled']]);
    expect(stream[2]!.envelope.data).toEqual({ orderId, reason: 'Changed my mind', previousStatus: 'confirmed' });
    const { state, version } = await loadState(harness.order, store, orderId);
    expect(version).toBe(3);
    expect(state).toMatchObject({ status: 'cancelled', cancelReason: 'Changed my mind', total: 47 });
  });

  it('refuses an invalid command before deciding anything', async () => {
    const error = await outcome(harness.bus.execute(command('ConfirmOrder', { orderId: '' })));
    expect(error).toMatchObject({ code: 'EDA_PAYLOAD_INVALID', status: 400 });
  });

  it('executes a command delivered twice only once', async () => {
    const orderId = nextOrderId();
    const create = command('CreateOrder', createOrder(orderId));
    const first = await harness.bus.execute(create);
    await harness.bus.execute(command('ConfirmOrder', { orderId }));
    const again = await harness.bus.execute(create);
    expect(again).toEqual({ streamId: orderId, version: 1, events: [expect.objectContaining({ id: first.events[0]!.id })] });
    expect(await harness.store.streamVersion(orderId)).toBe(2);
  });

  it('does not decide a command again when a snapshot taken after its events hides them from the loaded state', async () => {
    const { bus, store, order } = harness;
    const orderId = nextOrderId();
    await bus.execute(command('CreateOrder', createOrder(orderId)));
    const change = command('ChangeShippingAddress', { orderId, shippingAddress: address('9 Quay St') });
    const first = await bus.execute(change);
    expect(first.version).toBe(2);
    // A snapshot at version 2: loading starts after the event `change` caused.
    const state = (await loadState(order, store, orderId, { useSnapshot: false })).state;
    await store.saveSnapshot(orderId, 2, { aggregate: 'Order', fingerprint: order.fingerprint, state });
    expect((await loadState(order, store, orderId)).events).toEqual([]);
    const again = await bus.execute(change);
    expect(again).toEqual({ streamId: orderId, version: 2, events: [expect.objectContaining({ id: first.events[0]!.id })] });
    expect(await store.streamVersion(orderId)).toBe(2);
  });

  it('retries concurrency conflicts on fresh state: 20 concurrent commands on one order leave contiguous versions', async () => {
    const { bus, store, logs } = harness;
    const orderId = nextOrderId();
    await bus.execute(command('CreateOrder', createOrder(orderId)));
    const retriesBefore = logs.filter((line) => line.includes('concurrency conflict')).length;

    const changes = Array.from({ length: 19 }, (_, i) => command('ChangeShippingAddress', { orderId, shippingAddress: address(`${i + 1} Elm St`) }));
    const confirm = command('ConfirmOrder', { orderId });
    const results = await Promise.all([...changes, confirm].map((cmd) => outcome(bus.execute(cmd))));

    const conflictRetries = logs.filter((line) => line.includes('concurrency conflict')).length - retriesBefore;
    expect(conflictRetries).toBeGreaterThan(0);
    // Each command either succeeded or surfaced the conflict after its last retry; nothing else.
    const failures = results.filter((result): result is EdaflowError => result instanceof EdaflowError);
    for (const failure of failures) expect(failure.code).toBe('EDA_CONCURRENCY_CONFLICT');
    const successes = results.filter((result): result is CommandResult => !(result instanceof EdaflowError));
    expect(successes.length).toBeGreaterThanOrEqual(10);

    const stream = await store.readStream(orderId);
    expect(stream.map((event) => event.version)).toEqual(Array.from({ length: stream.length }, (_, i) => i + 1));
    // Exactly the successful commands' events were appended, at the versions they reported.
    const appended = stream.slice(1).map((event) => [event.version, event.envelope.id]);
    const reported = successes.flatMap((result) => result.events.map((event, i) => [result.version - result.events.length + 1 + i, event.id])).sort((a, b) => (a[0] as number) - (b[0] as number));
    expect(appended).toEqual(reported);
    const confirmed = results[19];
    if (!(confirmed instanceof EdaflowError)) expect(stream.filter((event) => event.envelope.type === 'OrderConfirmed')).toHaveLength(1);
  });

  it('lets exactly one of 20 concurrent ConfirmOrder win; the others are rejected on the state they lost to', async () => {
    const { bus, store } = harness;
    const orderId = nextOrderId();
    await bus.execute(command('CreateOrder', createOrder(orderId)));
    const results = await Promise.all(Array.from({ length: 20 }, () => outcome(bus.execute(command('ConfirmOrder', { orderId })))));
    // A loser conflicts at most once (nobody appends after the winner), then decides again and is rejected.
    expect(results.filter((result) => !(result instanceof EdaflowError))).toHaveLength(1);
    const rejections = results.filter((result): result is EdaflowError => result instanceof EdaflowError);
    expect(rejections.map((error) => [error.code, error.message])).toEqual(Array.from({ length: 19 }, () => ['EDA_COMMAND_REJECTED', 'Can only confirm pending orders']));
    expect((await store.readStream(orderId)).map((event) => event.envelope.type)).toEqual(['OrderCreated', 'OrderConfirmed']);
  });

  it('snapshots every snapshotEvery (100) events and loads from the snapshot to the same state', async () => {
    const { bus, store } = harness;
    const orderId = nextOrderId();
    await bus.execute(command('CreateOrder', createOrder(orderId)));
    for (let i = 0; i < 204; i++) await bus.execute(command('ChangeShippingAddress', { orderId, shippingAddress: address(`${i % 2 === 0 ? 'A' : 'B'} Road`) }));
    expect(await store.streamVersion(orderId)).toBe(205);

    const snapshot = await store.loadSnapshot(orderId);
    expect(snapshot?.version).toBe(200);
    const fromSnapshot = await loadState(harness.order, store, orderId);
    const replayed = await loadState(harness.order, store, orderId, { useSnapshot: false });
    expect(fromSnapshot.snapshotVersion).toBe(200);
    expect(fromSnapshot.events.map((event) => event.version)).toEqual([201, 202, 203, 204, 205]);
    expect(replayed.events).toHaveLength(205);
    expect(fromSnapshot.version).toBe(205);
    expect(fromSnapshot.state).toEqual(replayed.state);
    expect(fromSnapshot.state).toMatchObject({ status: 'pending', shippingAddress: address('B Road'), total: 47 });
  }, 120_000);

  it('ignores a snapshot made by another definition of the aggregate', async () => {
    const { bus, store } = harness;
    const orderId = nextOrderId();
    await bus.execute(command('CreateOrder', createOrder(orderId)));
    await store.saveSnapshot(orderId, 1, { aggregate: 'Order', fingerprint: 'older-definition', state: { status: 'confirmed' } });
    const loaded = await loadState(harness.order, store, orderId);
    expect(loaded.snapshotVersion).toBeUndefined();
    expect(loaded.state['status']).toBe('pending');
    expect(await bus.execute(command('ConfirmOrder', { orderId }))).toMatchObject({ version: 2 });
  });
});
