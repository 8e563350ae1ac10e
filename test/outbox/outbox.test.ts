import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerAdapter, DestinationRef } from '../../runtime/brokers/adapter.js';
import type { Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { EdaflowError } from '../../runtime/errors/index.js';
import { createEventStore, type EventStore } from '../../runtime/eventstore/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import { planMessaging, Publisher, startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox, startOutboxRelay, type Outbox } from '../../runtime/outbox/index.js';
import type { Database } from '../../runtime/store/database.js';
import { waitFor } from '../helpers/process.js';
import { ensureServers } from '../servers/servers.mjs';
import { silent, testDatabase } from '../eventstore/setup.js';
import { collect, deleteRabbitObjects, outboxDefinitions, runId } from './setup.js';

const run = runId();
const items: DestinationRef = { kind: 'topic', name: `items-${run}` };
const shipments: DestinationRef = { kind: 'topic', name: `shipments-${run}` };
const jobs: DestinationRef = { kind: 'queue', name: `jobs-${run}` };

const shipped = (n: number): Envelope => createEnvelope('Shipped', { n }, 'outbox-test', { subject: `parcel-${n % 3}`, dataversion: 1 });
const work = (n: number): Envelope => createEnvelope('Work', { n }, 'outbox-test', { dataversion: 1 });

describe('transactional outbox and its relay (PostgreSQL; postgres broker and RabbitMQ)', () => {
  const db = testDatabase('postgres');
  let database: Database;
  let definitions: Definitions;
  let messaging: Messaging;
  let outbox: Outbox;
  let store: EventStore;
  let rabbit: BrokerAdapter;

  const outboxRows = async (): Promise<number> => (await database.query<{ n: number }>('select count(*)::int as n from edaflow_outbox')).rows[0]!.n;

  beforeAll(async () => {
    await ensureServers(['postgres', 'rabbitmq']);
    database = await db.open();
    definitions = await outboxDefinitions(run);
    messaging = await startMessaging({ definitions, logger: silent, database, dedup: new MemoryDedupStore() });
    outbox = createOutbox({ database, publisher: messaging.publisher, brokers: messaging.brokers, plan: messaging.plan });
    store = createEventStore({ database, catalog: messaging.catalog, outbox });
    rabbit = messaging.brokers.get('rabbit')!;
  }, 120_000);

  afterAll(async () => {
    await messaging?.stop();
    await database?.close();
    await db.destroy();
    await deleteRabbitObjects(run);
  });

  it('writes a postgres-broker destination in the caller\'s transaction: no outbox row, gone with a rollback', async () => {
    const consumer = await collect(messaging.brokers.get('db')!, items, 'reader');
    try {
      const event = createEnvelope('ItemAdded', { sku: 'a' }, 'outbox-test', { subject: 'cart-1', dataversion: 1 });
      await store.append('cart-1', [event], { expectedVersion: 'no-stream' });
      expect(await outboxRows()).toBe(0);
      const undone = createEnvelope('ItemAdded', { sku: 'b' }, 'outbox-test', { subject: 'cart-1', dataversion: 1 });
      await expect(database.transaction(async (tx) => {
        await outbox.write(tx, [undone]);
        throw new Error('rolled back');
      })).rejects.toThrow('rolled back');
      await waitFor(async () => consumer.envelopes.length >= 1, 10_000);
      const after = createEnvelope('ItemAdded', { sku: 'c' }, 'outbox-test', { subject: 'cart-1', dataversion: 1 });
      await store.append('cart-1', [after], { expectedVersion: 1 });
      await waitFor(async () => consumer.envelopes.length >= 2, 10_000);
      expect(consumer.envelopes.map((e) => e.id)).toEqual([event.id, after.id]);
    } finally {
      await consumer.subscription.stop();
    }
  });

  it('validates before writing anything', async () => {
    const invalid = { ...shipped(1), data: { n: 'one' } };
    await expect(database.transaction((tx) => outbox.write(tx, [shipped(0), invalid]))).rejects.toMatchObject({ code: 'EDA_PAYLOAD_INVALID' });
    expect(await outboxRows()).toBe(0);
  });

  it('relays rows for other brokers after commit, in order, and deletes them once sent', async () => {
    const consumer = await collect(rabbit, shipments, 'audit');
    const relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger: silent, pollIntervalMs: 5_000 });
    try {
      const sent: Envelope[] = [];
      for (let batch = 0; batch < 5; batch++) {
        const envelopes = Array.from({ length: 10 }, (_, n) => shipped(batch * 10 + n));
        await database.transaction((tx) => outbox.write(tx, envelopes));
        sent.push(...envelopes);
      }
      const dropped = shipped(999);
      await expect(database.transaction(async (tx) => {
        await outbox.write(tx, [dropped]);
        throw new Error('rolled back');
      })).rejects.toThrow('rolled back');
      // Woken by NOTIFY: well before the 5 s poll.
      await waitFor(async () => consumer.envelopes.length >= sent.length, 4_000, () => `received ${consumer.envelopes.length}`);
      // In id order (the consumer handles one message at a time, so it sees the publish order).
      expect(consumer.envelopes.map((e) => e.id)).toEqual(sent.map((e) => e.id));
      expect(consumer.envelopes[0]).toEqual(sent[0]);
      await waitFor(async () => (await outboxRows()) === 0, 5_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(consumer.envelopes.some((e) => e.id === dropped.id)).toBe(false);
    } finally {
      await relay.stop();
      await consumer.subscription.stop();
    }
  });

  it('dispatches commands that travel over no queue in process, and sends routed ones to their queue', async () => {
    const dispatched: Envelope[] = [];
    messaging.publisher.onInProcess(async (envelope) => void dispatched.push(envelope));
    const consumer = await collect(rabbit, jobs, 'workers');
    const relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger: silent, pollIntervalMs: 200 });
    try {
      const ping = createEnvelope('Ping', { n: 1 }, 'outbox-test', { dataversion: 1 });
      const job = work(1);
      await database.transaction((tx) => outbox.write(tx, [ping, job]));
      await waitFor(async () => dispatched.length === 1 && consumer.envelopes.length === 1, 10_000);
      expect(dispatched[0]).toEqual(ping);
      expect(consumer.envelopes[0]!.id).toBe(job.id);
    } finally {
      await relay.stop();
      await consumer.subscription.stop();
    }
  });

  it('sets aside an in-process command its handler refuses for good, and delivers the rows after it', async () => {
    const dispatched: number[] = [];
    messaging.publisher.onInProcess(async (envelope) => {
      const n = (envelope.data as { n: number }).n;
      if (n === 2) throw new EdaflowError('EDA_COMMAND_REJECTED', 'ping 2 is refused');
      dispatched.push(n);
    });
    const relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger: silent, pollIntervalMs: 200 });
    try {
      const pings = [1, 2, 3].map((n) => createEnvelope('Ping', { n }, 'outbox-test', { dataversion: 1 }));
      await database.transaction((tx) => outbox.write(tx, pings));
      await waitFor(async () => dispatched.length === 2, 10_000);
      expect(dispatched).toEqual([1, 3]);
      const { rows } = await database.query<{ id: string; error: string }>("select envelope->>'id' as id, last_error as error from edaflow_outbox where dead_at is not null");
      expect(rows).toEqual([{ id: pings[1]!.id, error: 'ping 2 is refused' }]);
      await database.query('delete from edaflow_outbox where dead_at is not null');
    } finally {
      await relay.stop();
    }
  });

  it('keeps the rows while the broker refuses them (logged, backing off) and delivers them in order once it accepts', async () => {
    // The queue vanishes from RabbitMQ: publishing to it fails until it is provisioned again.
    const { default: amqp } = await import('amqplib');
    const connection = await amqp.connect(process.env['EDAFLOW_RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672');
    await (await connection.createChannel()).deleteQueue(jobs.name);
    await connection.close();
    const logged: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void logged.push(line) } });
    const relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger, pollIntervalMs: 100 });
    let consumer: Awaited<ReturnType<typeof collect>> | undefined;
    try {
      const jobsSent = Array.from({ length: 20 }, (_, n) => work(100 + n));
      await database.transaction((tx) => outbox.write(tx, jobsSent.slice(0, 10)));
      await database.transaction((tx) => outbox.write(tx, jobsSent.slice(10)));
      await waitFor(async () => logged.length >= 3, 10_000, () => logged.join('\n'));
      expect(JSON.parse(logged[0]!)).toMatchObject({ level: 'warn', msg: expect.stringContaining('publishing failed'), type: 'Work' });
      // Backing off: a few attempts, not a hot loop.
      const attempts = (await database.query<{ attempts: number; last_error: string }>('select attempts, last_error from edaflow_outbox order by id limit 1')).rows[0]!;
      expect(attempts.attempts).toBeGreaterThanOrEqual(3);
      expect(attempts.attempts).toBeLessThan(20);
      expect(attempts.last_error).toContain(jobs.name);
      expect(await outboxRows()).toBe(20);

      await rabbit.provision(messaging.plan.topologies.get('rabbit')!);
      consumer = await collect(rabbit, jobs, 'workers');
      await waitFor(async () => consumer!.envelopes.length >= 20, 40_000, () => `received ${consumer!.envelopes.length}`);
      expect(consumer.envelopes.map((e) => e.id)).toEqual(jobsSent.map((e) => e.id));
      await waitFor(async () => (await outboxRows()) === 0, 5_000);
    } finally {
      await relay.stop();
      await consumer?.subscription.stop();
    }
  }, 60_000);

  it('lets one relay publish at a time: a second waits for the lease', async () => {
    const first = await startOutboxRelay({ database, publisher: messaging.publisher, logger: silent, pollIntervalMs: 100, leaseMs: 1_000 });
    const second = await startOutboxRelay({ database, publisher: messaging.publisher, logger: silent, pollIntervalMs: 100, leaseMs: 1_000 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const { rows } = await database.query<{ owner: string }>(`select owner from edaflow_leases where name = 'edaflow-outbox-relay'`);
      expect(rows).toHaveLength(1);
      const holder = rows[0]!.owner;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await database.query<{ owner: string }>(`select owner from edaflow_leases where name = 'edaflow-outbox-relay'`)).rows[0]!.owner).toBe(holder);
      await first.stop();
      await waitFor(async () => (await database.query<{ owner: string }>(`select owner from edaflow_leases where name = 'edaflow-outbox-relay'`)).rows[0]?.owner, 5_000);
    } finally {
      await first.stop();
      await second.stop();
    }
  });
});

describe('outbox relay on the embedded database', () => {
  const db = testDatabase('embedded');
  let database: Database;
  let publisher: Publisher;

  beforeAll(async () => {
    database = await db.open();
    // Only the in-process command is used: the RabbitMQ broker is never started here.
    const definitions = await outboxDefinitions(run);
    publisher = new Publisher(definitions, MessageCatalog.build(definitions), planMessaging(definitions), new Map());
  }, 120_000);

  afterAll(async () => {
    await database?.close();
    await db.destroy();
  });

  it('takes over the lease a killed process left (the database is this process\'s alone) and dispatches in order', async () => {
    await database.query(`insert into edaflow_leases (name, owner, expires_at) values ('edaflow-outbox-relay', 'killed', now() + interval '1 hour')`);
    const dispatched: number[] = [];
    publisher.onInProcess(async (envelope) => void dispatched.push((envelope.data as { n: number }).n));
    const outbox = createOutbox({ publisher: publisher });
    await database.transaction((tx) => outbox.write(tx, Array.from({ length: 12 }, (_, n) => createEnvelope('Ping', { n }, 'outbox-test', { dataversion: 1 }))));
    const relay = await startOutboxRelay({ database, publisher: publisher, logger: silent, pollIntervalMs: 100 });
    try {
      await waitFor(async () => dispatched.length === 12, 10_000, () => dispatched.join(','));
      expect(dispatched).toEqual(Array.from({ length: 12 }, (_, n) => n));
      await waitFor(async () => (await database.query<{ n: number }>('select count(*)::int as n from edaflow_outbox')).rows[0]!.n === 0, 5_000);
    } finally {
      await relay.stop();
    }
  });
});
