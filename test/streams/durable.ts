import type { Subscription } from '../../runtime/brokers/adapter.js';
import { DEFAULT_RETRY, type Definitions } from '../../runtime/definitions/index.js';
import { decode, type Envelope } from '../../runtime/envelope/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox, startOutboxRelay, type OutboxRelay } from '../../runtime/outbox/index.js';
import type { Database } from '../../runtime/store/database.js';
import { startStreams, streamModels, type Streams } from '../../runtime/streams/index.js';
import { waitFor } from '../helpers/process.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTestEmbedded } from '../conformance/adapters/postgres.js';
import { asGolden, canonical, FIXTURES, readFixture, toEnvelope, type GoldenCase, type GoldenFixture, type GoldenOutput } from './golden.js';

export const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' });

/**
 * The durable runner end to end: the definitions' brokers provisioned, every stream started (leases,
 * consumer groups, the database state), outputs through the outbox (in the same transaction on the
 * postgres broker, else through the relay), and a consumer group collecting the `results` topic.
 */
export class DurableHarness {
  readonly outputs: Envelope[] = [];
  streams: Streams | undefined;
  private relay: OutboxRelay | undefined;
  private collector: Subscription | undefined;

  private constructor(
    readonly definitions: Definitions,
    readonly database: Database,
    readonly messaging: Messaging,
  ) {}

  static async open(definitions: Definitions, database: Database, resultsTopic = 'results'): Promise<DurableHarness> {
    const messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
    const harness = new DurableHarness(definitions, database, messaging);
    harness.relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger, pollIntervalMs: 100 });
    const broker = [...messaging.brokers.values()][0]!;
    harness.collector = await broker.subscribe(
      { destination: { kind: 'topic', name: resultsTopic }, group: `collector-${Date.now()}`, deadLetter: null, retry: DEFAULT_RETRY, concurrency: 1, prefetch: 50, startAt: 'earliest' },
      async (delivery) => {
        harness.outputs.push(decode(delivery.headers, delivery.body, broker.capabilities.headerPrefix));
        await delivery.ack();
      },
    );
    return harness;
  }

  async startStreams(): Promise<void> {
    const { definitions, database, messaging } = this;
    this.streams = await startStreams({ definitions, database, catalog: messaging.catalog, brokers: messaging.brokers, plan: messaging.plan, outbox: createOutbox({ publisher: messaging.publisher }), logger, leaseTtlMs: 2_000 });
  }

  async stopStreams(): Promise<void> {
    await this.streams?.stop();
    this.streams = undefined;
  }

  /** Forgets every stream's state, as if the streams had never run (between golden cases). */
  async resetStreams(): Promise<void> {
    await this.stopStreams();
    for (const table of ['edaflow_stream_tasks', 'edaflow_stream_positions', 'edaflow_stream_records', 'edaflow_leases']) await this.database.query(`delete from ${table}`);
    await this.database.query(`delete from edaflow_inbox where consumer like 'stream:%'`);
    this.outputs.length = 0;
  }

  /** How many messages each stream has handled (duplicates included). */
  async handled(): Promise<Map<string, number>> {
    const { rows } = await this.database.query<{ stream: string; handled: string | number }>('select stream, handled from edaflow_stream_tasks');
    return new Map(rows.map((row) => [row.stream, Number(row.handled)]));
  }

  async dropped(stream: string): Promise<Record<string, number>> {
    const { rows } = await this.database.query<{ dropped: Record<string, number> | string }>('select dropped from edaflow_stream_tasks where stream = $1', [stream]);
    const value = rows[0]?.dropped ?? {};
    const parsed = typeof value === 'string' ? (JSON.parse(value) as Record<string, number>) : value;
    return Object.fromEntries(Object.entries(parsed).map(([reason, count]) => [reason, Number(count)]));
  }

  /**
   * Publishes a case's records one at a time, each once every stream reading it has handled the
   * previous ones (the recorded order is the order of arrival, across topics too); `between` runs
   * after each record (to restart the streams mid-case).
   */
  async feed(fixture: GoldenFixture, golden: GoldenCase, between?: (index: number) => Promise<void>): Promise<void> {
    const models = streamModels(this.definitions);
    const expected = new Map<string, number>();
    for (const [index, input] of golden.input.entries()) {
      await this.messaging.publisher.deliver(toEnvelope(fixture, input));
      for (const model of models) if (model.inputs.some((candidate) => candidate.event === input.type)) expected.set(model.name, (expected.get(model.name) ?? 0) + 1);
      await waitFor(async () => {
        const handled = await this.handled();
        return [...expected].every(([stream, count]) => (handled.get(stream) ?? 0) >= count);
      }, 20_000, () => `waiting for record ${index} (${input.id}) to be handled by ${JSON.stringify([...expected])}`);
      await between?.(index);
    }
  }

  /** Waits until `count` outputs have arrived, and a moment more to catch any extra one. */
  async collect(count: number): Promise<Envelope[]> {
    await waitFor(async () => this.outputs.length >= count, 20_000, () => `${this.outputs.length} of ${count} outputs arrived`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return [...this.outputs];
  }

  outputsOf(stream: string): GoldenOutput[] {
    return this.outputs.map(asGolden).filter((output) => output.data['stream'] === stream);
  }

  async close(): Promise<void> {
    await this.stopStreams();
    await this.collector?.stop();
    await this.relay?.stop();
    await this.messaging.stop();
  }
}

/** Runs one golden case from a fresh state and checks each stream's outputs and drop counts; returns every output. */
export async function runGoldenCase(harness: DurableHarness, fixture: GoldenFixture, golden: GoldenCase): Promise<Envelope[]> {
  await harness.resetStreams();
  await harness.startStreams();
  await harness.feed(fixture, golden);
  const total = Object.values(golden.expected).reduce((sum, expected) => sum + expected.outputs.length, 0);
  const outputs = await harness.collect(total);
  for (const [stream, expected] of Object.entries(golden.expected)) {
    const actual = harness.outputsOf(stream);
    if (golden.ordered) expect(actual, stream).toEqual(expected.outputs);
    else expect(canonical(actual), stream).toEqual(canonical(expected.outputs));
    expect(await harness.dropped(stream), stream).toEqual(expected.dropped);
  }
  return outputs;
}

/**
 * Registers, in the calling `describe`, a harness on a fresh embedded database over `definitions` and
 * one test per golden case (each output emitted once); returns the harness for further tests.
 */
export function goldenCasesThroughTheRunner(setup: { definitions: () => Promise<Definitions>; resultsTopic?: string; servers?: () => Promise<void>; timeoutMs: number }): () => DurableHarness {
  let database: Database | undefined;
  let dispose: (() => Promise<void>) | undefined;
  let harness: DurableHarness | undefined;

  beforeAll(async () => {
    await setup.servers?.();
    ({ database, dispose } = await openTestEmbedded());
    harness = await DurableHarness.open(await setup.definitions(), database, setup.resultsTopic);
  }, setup.timeoutMs);

  afterAll(async () => {
    await harness?.close();
    await database?.close();
    await dispose?.();
  });

  for (const name of FIXTURES) {
    const fixture = readFixture(name);
    for (const golden of fixture.cases) {
      it(`${name}: ${golden.name}`, async () => {
        const outputs = await runGoldenCase(harness!, fixture, golden);
        expect(new Set(outputs.map((output) => output.id)).size).toBe(outputs.length);
      }, setup.timeoutMs);
    }
  }
  return () => harness!;
}
