import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCommandBus, type CommandBus } from '../../runtime/aggregates/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';
import { decode } from '../../runtime/envelope/index.js';
import { EdaflowError } from '../../runtime/errors/index.js';
import { createEventStore, type EventStore } from '../../runtime/eventstore/index.js';
import { startHandlers } from '../../runtime/handlers/runner.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox } from '../../runtime/outbox/index.js';
import type { Database } from '../../runtime/store/database.js';
import { openTestPostgres } from '../conformance/adapters/postgres.js';
import { eventually } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

const DEFINITIONS = `
defaults: { source: boxes-test, retry: { attempts: 3, backoff: fixed, delay: 50ms } }
topics: { boxes: {} }
queues: { box-commands: {} }
events:
  Opened: { topic: boxes, versions: { 1: { schema: { type: object, required: [id], properties: { id: { type: string } } } } } }
  Noted: { topic: boxes, versions: { 1: { schema: { type: object, required: [id, text], properties: { id: { type: string }, text: { type: string } } } } } }
  Closed: { topic: boxes, versions: { 1: { schema: { type: object, required: [id], properties: { id: { type: string } } } } } }
commands:
  Open: { queue: box-commands, schema: { type: object, required: [id], properties: { id: { type: string } } } }
  Note: { queue: box-commands, schema: { type: object, required: [id, text], properties: { id: { type: string }, text: { type: string } } } }
  Close: { schema: { type: object, required: [id], properties: { id: { type: string } } } }
aggregates:
  Box:
    streamId: command.id
    initial: { open: false, notes: 0 }
    evolve:
      Opened: { open: true }
      Noted: { notes: "{% state.notes + 1 %}" }
      Closed: { open: false }
    handle:
      Open: { when: "$not(state.open)", reject: Box is already open, emit: Opened }
      Note: { when: state.open, reject: Box is closed, emit: Noted }
      Close: { when: state.open, reject: Box is not open, emit: Closed }
`;

describe('aggregate commands routed over a queue of the postgres broker, and in-process', () => {
  let database: Database;
  let dispose: () => Promise<void>;
  let definitions: Definitions;
  let messaging: Messaging;
  let store: EventStore;
  let bus: CommandBus;
  let handlers: { stop(): Promise<void> };

  beforeAll(async () => {
    await ensureServers(['postgres']);
    ({ database, dispose } = await openTestPostgres());
    const loaded = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'boxes.yaml': DEFINITIONS }, '/d') });
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    definitions = loaded.definitions!;
    const logger = createLogger({ level: 'silent' });
    const dedup = new MemoryDedupStore();
    messaging = await startMessaging({ definitions, logger, database, dedup });
    const outbox = createOutbox({ database, publisher: messaging.publisher, brokers: messaging.brokers, plan: messaging.plan });
    store = createEventStore({ database, catalog: messaging.catalog, outbox });
    bus = createCommandBus({ definitions, catalog: messaging.catalog, store, functions: {}, logger });
    handlers = await startHandlers({ definitions, plan: messaging.plan, catalog: messaging.catalog, brokers: messaging.brokers, publisher: messaging.publisher, functions: {}, dedup, logger, commandBus: bus });
  }, 120_000);

  afterAll(async () => {
    await handlers?.stop();
    await messaging?.stop();
    await dispose?.();
    await database?.close();
  });

  it('plans the aggregate as the consumer group of its queue, provisioned with the dead-letter queue', () => {
    const [consumer, ...others] = messaging.plan.aggregateConsumers;
    expect(others).toEqual([]);
    expect(consumer).toMatchObject({ name: 'Box', group: 'Box', destination: { kind: 'queue', name: 'box-commands' }, deadLetter: 'box-commands.dlq', concurrency: 1 });
    expect([...consumer!.accepts].sort()).toEqual(['Note', 'Open']);
    expect(messaging.plan.topologies.get('default')!.groups).toContainEqual(expect.objectContaining({ group: 'Box', destination: { kind: 'queue', name: 'box-commands' } }));
  });

  it('executes queued commands in the order they were sent', async () => {
    await messaging.publisher.send('Open', { id: 'b-1' });
    for (let i = 0; i < 5; i++) await messaging.publisher.send('Note', { id: 'b-1', text: `note ${i}` });
    await eventually(async () => (await store.streamVersion('b-1')) === 6, 15_000, () => 'six events on b-1');
    const stream = await store.readStream('b-1');
    expect(stream.map((event) => event.envelope.type)).toEqual(['Opened', 'Noted', 'Noted', 'Noted', 'Noted', 'Noted']);
    expect(stream.map((event) => (event.envelope.data as { text?: string }).text)).toEqual([undefined, 'note 0', 'note 1', 'note 2', 'note 3', 'note 4']);
  });

  it('dead-letters a rejected queued command at once, with the reject message, and appends nothing', async () => {
    const sent = await messaging.publisher.send('Note', { id: 'b-closed', text: 'hello?' });
    const broker = messaging.brokers.get('default')!;
    await eventually(async () => (await broker.deadLetters.count('box-commands.dlq')) > 0, 15_000, () => 'a dead letter');
    const letters = await broker.deadLetters.list('box-commands.dlq');
    expect(letters).toHaveLength(1);
    const [letter] = letters;
    expect(decode(letter!.headers, letter!.body, broker.capabilities.headerPrefix).id).toBe(sent.id);
    expect(letter!.info).toMatchObject({ reason: 'failed', error: 'Box is closed', attempts: 1, group: 'Box', origin: { kind: 'queue', name: 'box-commands' } });
    expect(await store.streamVersion('b-closed')).toBe(0);
  });

  it('executes an aggregate command without a queue in-process, when it is sent', async () => {
    await messaging.publisher.send('Open', { id: 'b-2' });
    await eventually(async () => (await store.streamVersion('b-2')) === 1, 15_000, () => 'b-2 opened');
    await messaging.publisher.send('Close', { id: 'b-2' });
    expect(await store.streamVersion('b-2')).toBe(2);
    const error = await messaging.publisher.send('Close', { id: 'b-2' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'EDA_COMMAND_REJECTED', status: 409, message: 'Box is not open' });
  });

  it('retries a concurrency conflict through the pipeline, but never a rejection', () => {
    expect(new EdaflowError('EDA_CONCURRENCY_CONFLICT').retriable).toBe(true);
    expect(new EdaflowError('EDA_COMMAND_REJECTED').retriable).toBe(false);
  });
});
