import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import type { Database } from '../../runtime/store/database.js';
import { waitFor } from '../helpers/process.js';
import { ensureServers } from '../servers/servers.mjs';
import { POSTGRES_URL, silent, testDatabase } from '../eventstore/setup.js';
import { collect, deleteRabbitObjects, outboxDefinitions, runId, type Collected } from './setup.js';

const KILLS = 5;

/** Starts the writer process and resolves once it prints `ready`. */
async function startWriter(mode: 'write' | 'drain', run: string, schema: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/outbox/crash-writer.ts', mode, run, POSTGRES_URL, schema], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('outbox crash: a writer killed with SIGKILL between commit and publish, again and again', () => {
  const run = runId();
  const db = testDatabase('postgres');
  let database: Database;
  let messaging: Messaging;
  let consumer: Collected;

  beforeAll(async () => {
    await ensureServers(['postgres', 'rabbitmq']);
    database = await db.open();
    // Provisions the RabbitMQ exchange and the group's queue before anything is published to it.
    messaging = await startMessaging({ definitions: await outboxDefinitions(run), logger: silent, database, dedup: new MemoryDedupStore() });
    consumer = await collect(messaging.brokers.get('rabbit')!, { kind: 'topic', name: `shipments-${run}` }, 'audit');
  }, 120_000);

  afterAll(async () => {
    await consumer?.subscription.stop();
    await messaging?.stop();
    await database?.close();
    await db.destroy();
    await deleteRabbitObjects(run);
  });

  it(`every committed event reaches RabbitMQ after ${KILLS} SIGKILLs and a restart`, async () => {
    const schema = (db.store as { schema: string }).schema;
    const outboxRows = async (): Promise<number> => (await database.query<{ n: number }>('select count(*)::int as n from edaflow_outbox')).rows[0]!.n;
    let unpublishedAtKills = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = await startWriter('write', run, schema);
      try {
        await new Promise((resolve) => setTimeout(resolve, 500 + Math.random() * 2_000));
        // Kill while committed events wait in the outbox: between commit and publish.
        await waitFor(async () => (await outboxRows()) > 0, 10_000);
      } finally {
        child.kill('SIGKILL');
        await exited(child);
      }
      unpublishedAtKills += await outboxRows();
    }
    expect(unpublishedAtKills).toBeGreaterThan(0);

    const drain = await startWriter('drain', run, schema);
    await Promise.race([exited(drain), new Promise((_, reject) => setTimeout(() => reject(new Error('the draining writer did not finish')), 120_000))]);
    expect(drain.exitCode).toBe(0);
    expect(await outboxRows()).toBe(0);

    const { rows } = await database.query<{ event_id: string; stream_id: string; version: number }>('select event_id, stream_id, version from edaflow_events');
    const committed = rows.map((row) => row.event_id);
    expect(committed.length).toBeGreaterThan(100);
    const arrived = (): Set<string> => new Set(consumer.envelopes.map((envelope) => envelope.id));
    await waitFor(async () => committed.every((id) => arrived().has(id)), 60_000, () => `${committed.filter((id) => !arrived().has(id)).length} of ${committed.length} committed events never arrived`);
    // Nor reordered: each stream's events first arrived in version order (repeats after a crash come later).
    const stored = new Map(rows.map((row) => [row.event_id, row]));
    const firstArrivals = [...arrived()].map((id) => stored.get(id)!);
    for (const stream of new Set(rows.map((row) => row.stream_id))) {
      const versions = firstArrivals.filter((row) => row.stream_id === stream).map((row) => row.version);
      expect(versions).toEqual(versions.map((_, index) => index + 1));
    }
    const duplicates = consumer.envelopes.length - arrived().size;
    console.info(`outbox crash: ${committed.length} committed events all arrived (${duplicates} duplicates after ${KILLS} kills; ${unpublishedAtKills} rows were unpublished at the kills)`);
  }, 300_000);
});
