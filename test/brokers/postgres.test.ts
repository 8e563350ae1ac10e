import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery, DestinationRef, SubscribeRequest } from '../../runtime/brokers/adapter.js';
import { PostgresBroker } from '../../runtime/brokers/postgres.js';
import { decode } from '../../runtime/envelope/index.js';
import { openDatabase, type Database } from '../../runtime/store/database.js';
import { openTestPostgres, POSTGRES_URL } from '../conformance/adapters/postgres.js';
import { eventually, NO_RETRY, ping, sleep, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

const REPO = resolve(import.meta.dirname, '..', '..');

interface Seen {
  readonly n: number;
  readonly attempt: number;
  readonly at: number;
}

function numberOf(delivery: Delivery): number {
  return (decode(delivery.headers, delivery.body, 'ce-').data as { n: number }).n;
}

function request(destination: DestinationRef, group = 'workers', deadLetter: string | null = null): SubscribeRequest {
  return { destination, group, deadLetter, retry: NO_RETRY, concurrency: 1, prefetch: 10 };
}

/** Records every delivery and acknowledges it. */
function recorder(seen: Seen[]): (delivery: Delivery) => Promise<void> {
  return async (delivery) => {
    seen.push({ n: numberOf(delivery), attempt: delivery.attempt, at: Date.now() });
    await delivery.ack();
  };
}

describe('postgres broker on PostgreSQL', () => {
  let database: Database;
  let schema: string;
  let dispose: () => Promise<void>;
  let broker: PostgresBroker;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    ({ database, schema, dispose } = await openTestPostgres());
    broker = new PostgresBroker('pg', database, { pollIntervalMs: 100, leaseMs: 600 });
    await broker.connect();
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    await dispose?.();
    await database?.close();
  });

  /** Opens a transaction that publishes `n` to `topic` and stays open until the returned commit is called. */
  async function openPublishingTransaction(topic: DestinationRef, n: number): Promise<() => void> {
    let commit: () => void = () => undefined;
    await new Promise<void>((written) => {
      void database.transaction(async (tx) => {
        await broker.publishInTransaction(tx, topic, [ping(n)]);
        written();
        await new Promise<void>((resolve) => (commit = resolve));
      });
    });
    return commit;
  }

  it('never skips a row committed out of order, and never waits for it: the later transaction is read first, the earlier one when it commits', async () => {
    const topic: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    await broker.provision({ topics: [{ name: topic.name, partitions: 1 }], queues: [], groups: [] });
    const seen: Seen[] = [];
    const subscription = await broker.subscribe(request(topic, 'reader'), recorder(seen));

    // A takes its transaction id first and writes 1, but stays open; B writes 2 and commits first.
    const commitA = await openPublishingTransaction(topic, 1);
    try {
      await broker.publish(topic, [ping(2)]);
      // An open transaction anywhere on the server must not hold the topic back.
      await eventually(() => seen.length === 1, 10_000, () => 'B was held back behind the open transaction A');
      expect(seen.map((s) => s.n)).toEqual([2]);
    } finally {
      commitA();
    }
    // A's row sits behind the position the group has passed: it is delivered all the same, once.
    await eventually(() => seen.length === 2, 10_000, () => `seen ${JSON.stringify(seen)}`);
    expect(seen.map((s) => s.n)).toEqual([2, 1]);
    await subscription.stop();

    // The saved position is past both: a restarted consumer of the group gets nothing again.
    const again: Seen[] = [];
    const restarted = await broker.subscribe(request(topic, 'reader'), recorder(again));
    await sleep(400);
    expect(again).toEqual([]);
    await restarted.stop();
  });

  it('remembers a transaction still open behind the saved position: a consumer started after it commits gets its rows', async () => {
    const topic: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    await broker.provision({ topics: [{ name: topic.name, partitions: 1 }], queues: [], groups: [] });
    const seen: Seen[] = [];
    const subscription = await broker.subscribe(request(topic, 'reader'), recorder(seen));
    const commitA = await openPublishingTransaction(topic, 1);
    await broker.publish(topic, [ping(2)]);
    await eventually(() => seen.length === 1, 10_000, () => 'B was not delivered');
    await subscription.stop();
    commitA();

    const restarted: Seen[] = [];
    const again = await broker.subscribe(request(topic, 'reader'), recorder(restarted));
    await eventually(() => restarted.length === 1, 10_000, () => 'the late transaction was forgotten across the restart');
    expect(restarted.map((s) => s.n)).toEqual([1]);
    await sleep(400);
    expect(restarted.map((s) => s.n)).toEqual([1]);
    await again.stop();
    const { rows } = await database.query<{ late: unknown }>('select late from edaflow_topic_groups where topic = $1 and group_name = $2', [topic.name, 'reader']);
    expect(rows.map((row) => row.late)).toEqual([{}]);
  });

  it('redelivers a queue message whose consumer died without acking, after its lease, as attempt 2', async () => {
    const queue: DestinationRef = { kind: 'queue', name: uniqueName('queue') };
    await broker.provision({ topics: [], queues: [{ name: queue.name, deadLetter: null, maxDeliveries: 10 }], groups: [] });

    // The dying consumer has a connection pool of its own, which then goes away with it.
    const dyingDatabase = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema });
    const dying = new PostgresBroker('pg', dyingDatabase, { pollIntervalMs: 100, leaseMs: 600 });
    await dying.connect();
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => (release = resolve));
    const taken: Seen[] = [];
    const dyingSubscription = await dying.subscribe(request(queue), async (delivery) => {
      taken.push({ n: numberOf(delivery), attempt: delivery.attempt, at: Date.now() });
      await hung; // never settles
    });
    await broker.publish(queue, [ping(1)]);
    await eventually(() => taken.length === 1, 10_000, () => 'the first consumer got nothing');
    await dyingDatabase.close(); // its lease renewals fail from now on, as if the process had died

    const seen: Seen[] = [];
    const survivor = await broker.subscribe(request(queue), recorder(seen));
    await eventually(() => seen.length === 1, 10_000, () => 'not redelivered');
    expect(seen[0]!.n).toBe(1);
    expect(seen[0]!.attempt).toBe(2);
    expect(taken[0]!.attempt).toBe(1);
    expect(seen[0]!.at - taken[0]!.at).toBeGreaterThanOrEqual(500);
    await survivor.stop();

    release();
    await dyingSubscription.stop();
    await dying.close();
  });

  it('dead-letters a message its consumers keep dropping once it was delivered maxDeliveries times', async () => {
    const queue: DestinationRef = { kind: 'queue', name: uniqueName('queue') };
    const deadLetter = `${queue.name}.dlq`;
    await broker.provision({ topics: [], queues: [{ name: queue.name, deadLetter, maxDeliveries: 2 }], groups: [] });
    const attempts: number[] = [];
    // Returns without settling, like a consumer that dies on the message: the lease runs out each time.
    const subscription = await broker.subscribe(request(queue, 'workers', deadLetter), async (delivery) => void attempts.push(delivery.attempt));
    await broker.publish(queue, [ping(1)]);
    await eventually(async () => (await broker.deadLetters.count(deadLetter)) === 1, 10_000, () => `attempts ${attempts.join(',')}`);
    expect(attempts).toEqual([1, 2]);
    const [letter] = await broker.deadLetters.list(deadLetter);
    expect(letter!.info).toMatchObject({ reason: 'failed', attempts: 2, origin: queue, group: 'workers' });
    await subscription.stop();
  });

  it('reconnects after its connections are cut, and hears NOTIFY again without polling', async () => {
    const application = `edaflow_${schema}`.slice(0, 60);
    const cutDatabase = await openDatabase({ type: 'postgres', url: `${POSTGRES_URL}?application_name=${application}`, schema });
    // Polling every minute: a delivery within seconds can only come from a NOTIFY.
    const cut = new PostgresBroker('pg', cutDatabase, { pollIntervalMs: 60_000, leaseMs: 600 });
    await cut.connect();
    const queue: DestinationRef = { kind: 'queue', name: uniqueName('queue') };
    const topic: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    await broker.provision({ topics: [{ name: topic.name, partitions: 1 }], queues: [{ name: queue.name, deadLetter: null, maxDeliveries: 10 }], groups: [] });
    const fromQueue: Seen[] = [];
    const fromTopic: Seen[] = [];
    const subscriptions = [await cut.subscribe(request(queue), recorder(fromQueue)), await cut.subscribe(request(topic, 'g'), recorder(fromTopic))];
    await broker.publish(queue, [ping(1)]);
    await broker.publish(topic, [ping(1)]);
    await eventually(() => fromQueue.length === 1 && fromTopic.length === 1, 10_000, () => 'nothing before the cut');

    const { rows } = await database.query<{ cut: number }>('select count(pg_terminate_backend(pid))::int as cut from pg_stat_activity where application_name = $1', [application]);
    expect(rows[0]!.cut).toBeGreaterThan(0);
    await sleep(1_500);
    await broker.publish(queue, [ping(2)]);
    await broker.publish(topic, [ping(2)]);
    await eventually(() => fromQueue.length === 2 && fromTopic.length === 2, 10_000, () => `queue ${fromQueue.length}, topic ${fromTopic.length}`);
    expect(fromTopic.map((s) => s.n)).toEqual([1, 2]);
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    await cut.close();
    await cutDatabase.close();
  });

  it('stops a topic consumer gracefully: rows read ahead come back in order to the next one, still as attempt 1', async () => {
    const topic: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    await broker.provision({ topics: [{ name: topic.name, partitions: 1 }], queues: [], groups: [] });
    await broker.publish(topic, Array.from({ length: 6 }, (_, n) => ping(n, { key: 'k' })));
    const first: Seen[] = [];
    const slow = await broker.subscribe(request(topic, 'g'), async (delivery) => {
      await sleep(200);
      await recorder(first)(delivery);
    });
    await eventually(() => first.length >= 1, 10_000, () => 'nothing handled');
    await slow.stop();
    const second: Seen[] = [];
    const next = await broker.subscribe(request(topic, 'g'), recorder(second));
    await eventually(() => first.length + second.length >= 6, 10_000, () => `first ${first.length}, second ${second.length}`);
    await sleep(300);
    expect([...first, ...second].map((s) => s.n)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(second.every((s) => s.attempt === 1)).toBe(true);
    await next.stop();
  });

  it('refuses to provision a topic whose existing settings differ, naming the setting and both values', async () => {
    const name = uniqueName('topic');
    await broker.provision({ topics: [{ name, partitions: 2 }], queues: [], groups: [] });
    await broker.provision({ topics: [{ name, partitions: 2 }], queues: [], groups: [] });
    await expect(broker.provision({ topics: [{ name, partitions: 3 }], queues: [], groups: [] })).rejects.toMatchObject({
      code: 'EDA_PROVISION_CONFLICT',
      message: expect.stringMatching(/partitions 2.*declare 3/),
    });
  });

  it('publishes inside a caller transaction: nothing is visible if it rolls back', async () => {
    const queue: DestinationRef = { kind: 'queue', name: uniqueName('queue') };
    await broker.provision({ topics: [], queues: [{ name: queue.name, deadLetter: null, maxDeliveries: 10 }], groups: [] });
    await expect(
      database.transaction(async (tx) => {
        await broker.publishInTransaction(tx, queue, [ping(1)]);
        throw new Error('the append failed');
      }),
    ).rejects.toThrow('the append failed');
    await database.transaction((tx) => broker.publishInTransaction(tx, queue, [ping(2)]));
    const seen: Seen[] = [];
    const subscription = await broker.subscribe(request(queue), recorder(seen));
    await eventually(() => seen.length === 1, 10_000, () => 'nothing delivered');
    await sleep(300);
    expect(seen.map((s) => s.n)).toEqual([2]);
    await subscription.stop();
  });
});

/** A process that consumes from the embedded database and is killed mid-handler (`kill -9`). */
const CHILD = (path: string, queue: string, topic: string): string => `
import { openDatabase } from ${JSON.stringify(pathToFileURL(join(REPO, 'runtime/store/database.ts')).href)};
import { PostgresBroker } from ${JSON.stringify(pathToFileURL(join(REPO, 'runtime/brokers/postgres.ts')).href)};
import { decode } from ${JSON.stringify(pathToFileURL(join(REPO, 'runtime/envelope/index.ts')).href)};
import { ping, NO_RETRY } from ${JSON.stringify(pathToFileURL(join(REPO, 'test/conformance/harness.ts')).href)};
const database = await openDatabase({ type: 'embedded', path: ${JSON.stringify(path)} });
const broker = new PostgresBroker('pg', database, { pollIntervalMs: 100 });
await broker.connect();
const queue = { kind: 'queue', name: ${JSON.stringify(queue)} };
const topic = { kind: 'topic', name: ${JSON.stringify(topic)} };
await broker.provision({ topics: [{ name: topic.name, partitions: 1 }], queues: [{ name: queue.name, deadLetter: null, maxDeliveries: 10 }], groups: [] });
await broker.publish(queue, Array.from({ length: 10 }, (_, n) => ping(n)));
await broker.publish(topic, Array.from({ length: 10 }, (_, n) => ping(n, { key: 'k' })));
const hung = new Set();
for (const destination of [queue, topic]) {
  await broker.subscribe({ destination, group: 'g', deadLetter: null, retry: NO_RETRY, concurrency: 1, prefetch: 1 }, async (delivery) => {
    const n = decode(delivery.headers, delivery.body, 'ce-').data.n;
    if (n < 3) {
      await delivery.ack();
      console.log(JSON.stringify({ acked: destination.kind, n }));
      return;
    }
    hung.add(destination.kind);
    if (hung.size === 2) setTimeout(() => console.log('READY'), 500);
    await new Promise(() => undefined);
  });
}
`;

describe('postgres broker on the embedded database', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edaflow-pglite-kill-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loses nothing when the process is killed: unsettled messages come back, the in-flight one as attempt 2', async () => {
    const path = join(dir, 'db');
    const script = join(dir, 'child.mts');
    const [queueName, topicName] = [uniqueName('queue'), uniqueName('topic')];
    writeFileSync(script, CHILD(path, queueName, topicName));
    const acked = { queue: [] as number[], topic: [] as number[] };
    await new Promise<void>((ready, failed) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          if (line === 'READY') {
            child.kill('SIGKILL');
            continue;
          }
          const record = JSON.parse(line) as { acked: 'queue' | 'topic'; n: number };
          acked[record.acked].push(record.n);
        }
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? ready() : failed(new Error(`the child exited on its own: ${stderr}`))));
    });

    const database = await openDatabase({ type: 'embedded', path });
    const broker = new PostgresBroker('pg', database, { pollIntervalMs: 100 });
    try {
      await broker.connect();
      const queue: Seen[] = [];
      const topic: Seen[] = [];
      const subscriptions = [
        await broker.subscribe(request({ kind: 'queue', name: queueName }, 'g'), recorder(queue)),
        await broker.subscribe(request({ kind: 'topic', name: topicName }, 'g'), recorder(topic)),
      ];
      await eventually(() => queue.length === 7 && topic.length >= 7, 20_000, () => `queue ${JSON.stringify(queue)}, topic ${JSON.stringify(topic)}`);
      await sleep(300);
      expect(acked.queue).toEqual([0, 1, 2]);
      expect(queue.map((s) => s.n).sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9]);
      expect(queue.find((s) => s.n === 3)!.attempt).toBe(2);
      expect(queue.filter((s) => s.n !== 3).every((s) => s.attempt === 1)).toBe(true);
      // Topic: in order, from the first unsettled row; a row settled but not yet saved may come again.
      const topicNumbers = topic.map((s) => s.n);
      expect(topicNumbers).toEqual([...topicNumbers].sort((a, b) => a - b));
      expect(new Set([...acked.topic, ...topicNumbers])).toEqual(new Set([...Array(10).keys()]));
      expect(topic.find((s) => s.n === 3)!.attempt).toBe(2);
      await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    } finally {
      await broker.close();
      await database.close();
    }
  }, 120_000);
});
