import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETRY } from '../../runtime/definitions/index.js';
import { decode, type Envelope } from '../../runtime/envelope/index.js';
import type { Subscription } from '../../runtime/brokers/adapter.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import type { Database } from '../../runtime/store/database.js';
import { createProcessor, streamModels } from '../../runtime/streams/index.js';
import { openTestPostgres } from '../conformance/adapters/postgres.js';
import { POSTGRES_URL } from '../eventstore/setup.js';
import { waitFor } from '../helpers/process.js';
import { ensureServers } from '../servers/servers.mjs';
import { crashDefinitions, crashInput } from './crash.js';
import { logger } from './durable.js';

const ORDERS = 400;
const KILLS = 4;

async function startRunner(schema: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/streams/crash-runner.ts', POSTGRES_URL, schema], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, EDAFLOW_LOG_LEVEL: process.env['EDAFLOW_LOG_LEVEL'] ?? 'warn' } });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the stream runner exited (${code}) before it was ready`)));
  });
  return child;
}

function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** What an uninterrupted run emits: the pure core over the same records, in publish order. */
async function uninterrupted(records: readonly Envelope[]): Promise<Envelope[]> {
  const outputs: Envelope[] = [];
  for (const model of streamModels(await crashDefinitions())) {
    const processor = createProcessor(model);
    for (const record of records) if (model.inputs.some((input) => input.event === record.type)) outputs.push(...(await processor.step(record)).outputs);
  }
  return outputs;
}

/** What a stalled run looks like from the database: for the failure message. */
async function describeState(database: Database): Promise<string> {
  const sections = {
    tasks: 'select stream, epoch, owner, handled, emitted, dropped, updated_at from edaflow_stream_tasks order by stream',
    groups: "select topic, group_name, partition, last_transaction_id::text, last_position, owner, leased_until - now() as lease_left from edaflow_topic_groups where group_name like 'stream%' order by 1, 2, 3",
    heads: 'select topic, partition, count(*) as messages, max(transaction_id)::text as last_transaction from edaflow_topic_messages group by 1, 2 order by 1, 2',
    deadLetters: 'select count(*) as dead_letters from edaflow_queue_messages',
    snapshot: 'select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, pg_current_xact_id()::text as now',
    oldTransactions: "select pid, datname, application_name, state, backend_xid::text, now() - xact_start as age, left(query, 80) as query from pg_stat_activity where backend_xid is not null order by xact_start limit 5",
  };
  const parts: string[] = [];
  for (const [name, sql] of Object.entries(sections)) {
    const result = await database.query(sql).then((r) => JSON.stringify(r.rows), (error: unknown) => `(${String(error)})`);
    parts.push(`${name}: ${result}`);
  }
  return parts.join('\n');
}

const comparable = (outputs: readonly Envelope[]) => outputs.map((output) => ({ id: output.id, time: output.time, data: output.data })).sort((a, b) => (a.id < b.id ? -1 : 1));

describe('streams crash: the process running a join and an aggregation killed with SIGKILL mid-stream, again and again', () => {
  let database: Database;
  let schema: string;
  let dispose: () => Promise<void>;
  let messaging: Messaging;
  let collector: Subscription;
  const collected: Envelope[] = [];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    ({ database, schema, dispose } = await openTestPostgres());
    messaging = await startMessaging({ definitions: await crashDefinitions(), logger, database, dedup: new MemoryDedupStore() });
    const broker = messaging.brokers.get('db')!;
    collector = await broker.subscribe({ destination: { kind: 'topic', name: 'results' }, group: 'collector', deadLetter: null, retry: DEFAULT_RETRY, concurrency: 1, prefetch: 100, startAt: 'earliest' }, async (delivery) => {
      collected.push(decode(delivery.headers, delivery.body, broker.capabilities.headerPrefix));
      await delivery.ack();
    });
  }, 120_000);

  afterAll(async () => {
    if (child) await killed(child);
    await collector?.stop();
    await messaging?.stop();
    await dispose?.();
    await database?.close();
  });

  it('emits exactly what an uninterrupted run emits: every output once, none lost', async () => {
    const records = crashInput(ORDERS);
    const expected = await uninterrupted(records);
    child = await startRunner(schema);
    const killEvery = Math.floor(records.length / (KILLS + 1));
    for (const [index, record] of records.entries()) {
      await messaging.publisher.deliver(record);
      if (index % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 30));
      if (index > 0 && index % killEvery === 0 && index < records.length - 10) {
        await killed(child);
        child = await startRunner(schema);
      }
    }
    let state = '';
    await waitFor(async () => {
      // `handled` also counts redeliveries found in the inbox (a kill between a commit and its ack): those are dropped as duplicates.
      const { rows } = await database.query<{ stream: string; fresh: string }>("select stream, handled - coalesce((dropped ->> 'duplicate')::bigint, 0) as fresh from edaflow_stream_tasks order by stream");
      state = await describeState(database);
      return rows.length === 2 && Number(rows.find((row) => row.stream === 'Paid')?.fresh) === records.length && Number(rows.find((row) => row.stream === 'Spend')?.fresh) === ORDERS;
      // Each kill leaves the dead process's topic partitions leased for the postgres broker's lease time
      // (30 s) before the restarted one may read them: allow for that on a loaded machine.
    }, 300_000, () => state);
    await waitFor(async () => collected.length >= expected.length, 30_000, () => `${collected.length} of ${expected.length} outputs`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(expected.length).toBeGreaterThan(300);
    expect(comparable(collected)).toEqual(comparable(expected));
    const { rows } = await database.query<{ dropped: unknown }>('select dropped from edaflow_stream_tasks');
    // Nothing late, keyless or filtered; redeliveries after a kill are recorded as duplicates and change nothing.
    for (const row of rows) {
      const { duplicate: _redelivered, ...dropped } = (typeof row.dropped === 'string' ? JSON.parse(row.dropped) : row.dropped) as Record<string, number>;
      expect(dropped).toEqual({});
    }
  }, 480_000);
});
