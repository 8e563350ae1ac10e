/**
 * `npm run bench:brokers`: messages/s of publish → consume → ack through edaflow (the adapter's publish
 * of CloudEvents envelopes, subscribe through the shared consumer pipeline: decode, ajv validation,
 * upcast check, handler, ack) against the raw client library doing the same work in the same run (same
 * payloads, batch sizes, prefetch, concurrency and acks; JSON.parse of each body as its only decoding).
 * One raw baseline per broker in ./brokers/, run twice: sending the data alone (`raw`, the issue's
 * baseline), and sending the very message edaflow sends (`raw-ce`: its CloudEvents attributes as the
 * broker's headers, computed before the clock starts), which separates what the envelope costs the
 * client library and the broker from what edaflow's own code costs. Each side runs BENCH_RUNS times
 * (rotating which goes first); the median counts. Prints progress to stderr, a table to stdout, writes bench/results/brokers.json.
 *
 *   BENCH_MESSAGES (20000: shorter runs measure start-up and noise more than throughput)  BENCH_SQS_MESSAGES (5000: ElasticMQ is slower)  BENCH_BATCH (50)
 *   BENCH_PREFETCH (50)  BENCH_CONCURRENCY (10)  BENCH_RUNS (3)  BENCH_WARMUP (a full run's messages, once per side, unmeasured:
 *   the JVM servers, Kafka and ElasticMQ, run twice as fast once their JIT has compiled the hot paths)
 *   BENCH_BROKERS (all: postgres,rabbitmq,nats,sqs,kafka)  BENCH_SIDES (edaflow,raw,raw-ce); a run of some only is printed, not written
 *   BENCH_KAFKA_MIN_BYTES (1: fetch.min.bytes of both sides' Kafka consumers; a run with another is printed, not written)
 */
import type { BrokerAdapter, DestinationRef, GroupSpec, Topology } from '../dist/runtime/brokers/adapter.js';
import { createBroker } from '../dist/runtime/brokers/index.js';
import { token } from '../dist/runtime/brokers/nats/wire.js';
import { SqsBroker } from '../dist/runtime/brokers/sqs.js';
import { physicalName } from '../dist/runtime/brokers/sqs/queues.js';
import { loadDefinitions, memoryFileSystem, type Definitions, type RetryPolicy } from '../dist/runtime/definitions/index.js';
import { MessageCatalog } from '../dist/runtime/messages/catalog.js';
import { createLogger } from '../dist/runtime/observability/logger.js';
import { createConsumer } from '../dist/runtime/pipeline/consumer.js';
import { openDatabase } from '../dist/runtime/store/database.js';
import { ensureServers } from '../test/servers/servers.mjs';
import { Acks, chunks, pingEnvelope, type RawBaseline, type Timing, type Workload } from './brokers/common.js';
import { writeResult } from './results.js';
import { formatTable, median } from './table.js';
import * as kafkaRaw from './brokers/kafka.js';
import * as natsRaw from './brokers/nats.js';
import * as postgresRaw from './brokers/postgres.js';
import * as rabbitmqRaw from './brokers/rabbitmq.js';
import * as sqsRaw from './brokers/sqs.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const MESSAGES = env('BENCH_MESSAGES', 20_000);
const SQS_MESSAGES = Math.min(MESSAGES, env('BENCH_SQS_MESSAGES', 5_000));
const BATCH = env('BENCH_BATCH', 50);
const PREFETCH = env('BENCH_PREFETCH', 50);
const CONCURRENCY = env('BENCH_CONCURRENCY', 10);
const RUNS = env('BENCH_RUNS', 3);
/** Undefined: as many as a measured run of the case. */
const WARMUP = process.env['BENCH_WARMUP'] === undefined ? undefined : Number(process.env['BENCH_WARMUP']);
const ALL_SIDES = ['edaflow', 'raw', 'raw-ce'] as const;
type Side = (typeof ALL_SIDES)[number];
/** BENCH_SIDES=edaflow (or raw, raw-ce) measures some sides only, e.g. under `node --cpu-prof`; a ratio without its sides is NaN. */
const SIDES = ALL_SIDES.filter((side) => (process.env['BENCH_SIDES'] ?? ALL_SIDES.join(',')).split(',').map((name) => name.trim()).includes(side));
const RUN = `b${Date.now().toString(36)}`;
const TARGET = 0.9;
const logger = createLogger({ level: 'silent' });
const NO_RETRY: RetryPolicy = { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false };

/** The edaflow side of a case: how to get the adapter, what to provision, and how to remove it afterwards. */
interface EdaflowSide {
  readonly kind: DestinationRef['kind'];
  create(name: string): Promise<{ adapter: BrokerAdapter; dispose?: () => Promise<void> }>;
  topology(destination: DestinationRef, group: GroupSpec): Topology;
  cleanup(name: string): Promise<void>;
}

interface Case {
  readonly broker: string;
  readonly servers: readonly ('postgres' | 'rabbitmq' | 'nats' | 'sqs' | 'kafka')[];
  readonly messages: number;
  /** Loaded lazily so one adapter that cannot be imported (a work in progress) does not stop the others. */
  load(): Promise<{ edaflow: EdaflowSide; raw: RawBaseline }>;
}

const queueTopology = (destination: DestinationRef, group: GroupSpec): Topology => ({ topics: [], queues: [{ name: destination.name, deadLetter: null, maxDeliveries: 5 }], groups: [group] });

const CASES: Case[] = [
  {
    broker: 'postgres',
    servers: ['postgres'],
    messages: MESSAGES,
    load: async () => ({
      raw: postgresRaw.raw,
      edaflow: {
        kind: 'queue',
        // The broker's tables in a schema of their own on the same database as the raw table, dropped afterwards.
        create: async (name) => {
          const schema = name.replace(/[^A-Za-z0-9_]/g, '_');
          const database = await openDatabase({ type: 'postgres', url: postgresRaw.POSTGRES_URL, schema });
          const adapter = await createBroker('postgres', { type: 'postgres' }, { logger, database });
          return { adapter, dispose: async () => (await database.query(`drop schema if exists "${schema}" cascade`), await database.close()) };
        },
        topology: queueTopology,
        cleanup: async () => undefined,
      },
    }),
  },
  {
    broker: 'rabbitmq',
    servers: ['rabbitmq'],
    messages: MESSAGES,
    load: async () => ({
      raw: rabbitmqRaw.raw,
      edaflow: {
        kind: 'queue',
        create: async () => ({ adapter: await createBroker('rabbitmq', { type: 'rabbitmq', url: rabbitmqRaw.RABBITMQ_URL }, { logger }) }),
        topology: queueTopology,
        cleanup: (name) => rabbitmqRaw.dropQueues([name]),
      },
    }),
  },
  {
    broker: 'nats',
    servers: ['nats'],
    messages: MESSAGES,
    load: async () => ({
      raw: natsRaw.raw,
      edaflow: {
        kind: 'queue',
        create: async () => ({ adapter: await createBroker('nats', { type: 'nats', servers: [natsRaw.NATS_URL] }, { logger }) }),
        topology: queueTopology,
        cleanup: (name) => natsRaw.dropStreams([`queue_${token(name)}`]),
      },
    }),
  },
  {
    broker: 'sqs',
    servers: ['sqs'],
    messages: SQS_MESSAGES,
    load: async () => ({
      raw: sqsRaw.raw,
      edaflow: {
        kind: 'queue',
        // A 1 s long poll (as the raw side and the conformance suite) so stopping is quick; the rest is production configuration.
        create: async () => ({ adapter: new SqsBroker('sqs', { type: 'sqs', region: 'us-east-1', endpoint: sqsRaw.SQS_ENDPOINT }, { logger }, { waitTimeSeconds: 1 }) }),
        topology: queueTopology,
        cleanup: (name) => sqsRaw.dropQueues([physicalName(name)]),
      },
    }),
  },
  {
    broker: 'kafka',
    servers: ['kafka'],
    messages: MESSAGES,
    load: async () => {
      const { KafkaBroker } = await import('../dist/runtime/brokers/kafka.js');
      const timings = kafkaRaw.GROUP_TIMINGS;
      const options = { sessionTimeoutMs: timings.sessionTimeout, heartbeatIntervalMs: timings.heartbeatInterval, rebalanceTimeoutMs: timings.rebalanceTimeout, maxWaitTimeMs: timings.maxWaitTimeInMs, minBytes: kafkaRaw.MIN_BYTES };
      return {
        raw: kafkaRaw.raw,
        edaflow: {
          kind: 'topic',
          create: async () => ({ adapter: new KafkaBroker('kafka', { type: 'kafka', brokers: kafkaRaw.KAFKA_BROKERS, clientId: 'edaflow-bench' }, logger, options) }),
          topology: (destination, group) => ({ topics: [{ name: destination.name, partitions: kafkaRaw.PARTITIONS }], queues: [], groups: [group] }),
          cleanup: async (name) => {
            const admin = kafkaRaw.kafkaClient('edaflow-bench-cleanup').admin();
            await admin.connect();
            await kafkaRaw.dropTopic(admin, name, [`${name}.bench`]);
            await admin.disconnect();
          },
        },
      };
    },
  },
];

const DEFINITIONS = `
edaflow: 1
topics: { bench: {} }
events:
  Ping:
    topic: bench
    versions:
      1: { schema: { type: object, required: [n, label], properties: { n: { type: integer }, label: { type: string } }, additionalProperties: false } }
`;

async function benchCatalog(): Promise<MessageCatalog> {
  const result = await loadDefinitions('/bench', { fileSystem: memoryFileSystem({ 'app.yaml': DEFINITIONS }, '/bench') });
  if (!result.definitions) throw new Error(`bench definitions are invalid: ${JSON.stringify(result.diagnostics)}`);
  return MessageCatalog.build(result.definitions as Definitions);
}

/** One measured edaflow run: provision, subscribe through the pipeline, publish in batches, wait for the last ack. */
async function runEdaflow(side: EdaflowSide, catalog: MessageCatalog, workload: Workload): Promise<Timing> {
  const { adapter, dispose } = await side.create(workload.name);
  const destination: DestinationRef = { kind: side.kind, name: workload.name };
  const group: GroupSpec = { destination, group: 'bench', deadLetter: null, retry: NO_RETRY };
  try {
    await adapter.connect();
    await provisionRetrying(adapter, side.topology(destination, group));
    const acks = new Acks(workload.messages, `${adapter.name} edaflow ${workload.name}`, workload.timeoutMs);
    const unexpected: string[] = [];
    const pipeline = createConsumer({
      name: 'bench', group: 'bench', origin: destination, accepts: new Set(['Ping']), retry: NO_RETRY, timeoutMs: 10_000,
      headerPrefix: adapter.capabilities.headerPrefix, catalog, logger, handle: async () => undefined,
    });
    const subscription = await adapter.subscribe({ ...group, prefetch: workload.prefetch, concurrency: workload.concurrency }, async (delivery) => {
      const outcome = await pipeline(delivery);
      if (outcome !== 'handled') unexpected.push(outcome);
      acks.ack();
    });
    const envelopes = Array.from({ length: workload.messages }, (_, n) => ({ envelope: pingEnvelope(n) }));
    acks.start();
    for (const batch of chunks(envelopes, workload.batch)) await adapter.publish(destination, batch);
    acks.published();
    const timing = await acks.done;
    await subscription.stop();
    if (unexpected.length) throw new Error(`${adapter.name}: ${unexpected.length} messages were not handled (${unexpected[0]})`);
    return timing;
  } finally {
    await adapter.close().catch((error: unknown) => process.stderr.write(`\nclosing ${adapter.name}: ${(error as Error).message}\n`));
    await side.cleanup(workload.name);
    await dispose?.();
  }
}

/**
 * Provisions, trying again (up to 3 times, saying so on stderr) after an error: a freshly created Kafka
 * topic can briefly be unknown to the broker answering the next request under load.
 */
async function provisionRetrying(adapter: BrokerAdapter, topology: Topology): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await adapter.provision(topology);
    } catch (error) {
      if (attempt === 3) throw error;
      process.stderr.write(`(${adapter.name} provision failed, trying again: ${(error as Error).message.split('\n')[0]}) `);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}


interface Measured {
  readonly edaflow: number;
  readonly raw: number;
  /** edaflow ÷ raw: the ratio. */
  readonly ratio: number;
  /** The raw client sending the very message edaflow sends, and edaflow ÷ that: edaflow's own code alone. */
  readonly rawSameMessage: number;
  readonly ratioSameMessage: number;
  /**
   * raw, same message ÷ raw: what carrying the envelope's attributes as headers (DSL.md's binary mode)
   * costs the client library and the broker alone: the most `ratio` can be for code that sends them
   * through the same client calls (edaflow's postgres broker is not that client: its own SQL).
   */
  readonly headersCeiling: number;
  readonly messages: number;
  readonly publish: Record<Side, number>;
  readonly runs: Record<Side, number[]>;
}
type Row = Measured | { unavailable: string } | { failed: string };

const only = process.env['BENCH_BROKERS']?.split(',').map((name) => name.trim());
const selected = CASES.filter((benchCase) => !only || only.includes(benchCase.broker));
process.stderr.write(`checking servers: ${[...new Set(selected.flatMap((c) => c.servers))].join(', ')}\n`);
await ensureServers([...new Set(selected.flatMap((c) => c.servers))], { log: (line: string) => process.stderr.write(`  ${line}\n`) });
const catalog = await benchCatalog();

const perSide = <T>(value: (side: Side) => T): Record<Side, T> => ({ edaflow: value('edaflow'), raw: value('raw'), 'raw-ce': value('raw-ce') });
const rotated = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length]!);

const results: Record<string, Row> = {};
for (const [index, benchCase] of selected.entries()) {
  const label = `[${index + 1}/${selected.length}] ${benchCase.broker}`;
  let sides: Awaited<ReturnType<Case['load']>>;
  try {
    sides = await benchCase.load();
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0]!;
    process.stderr.write(`${label}: unavailable: ${reason}\n`);
    results[benchCase.broker] = { unavailable: reason };
    continue;
  }
  const measure = (side: Side, workload: Omit<Workload, 'cloudEvents'>): Promise<Timing> =>
    side === 'edaflow' ? runEdaflow(sides.edaflow, catalog, { ...workload, cloudEvents: true }) : sides.raw({ ...workload, cloudEvents: side === 'raw-ce' });
  const rates = perSide(() => [] as number[]);
  const publishRates = perSide(() => [] as number[]);
  try {
    // An unmeasured run per side first, so no side's runs pay for JIT compilation (the client's, and the
    // server's: a cold JVM broker ran the first measured run at half the speed of the last) or first connections.
    const warmup = WARMUP ?? benchCase.messages;
    for (const side of SIDES) {
      process.stderr.write(`${label}: ${side} warm-up, ${warmup} messages\n`);
      await measure(side, { name: `edaflow-bench-${RUN}-${benchCase.broker}-${side}0`, messages: warmup, batch: BATCH, prefetch: PREFETCH, concurrency: CONCURRENCY, timeoutMs: Math.max(60_000, warmup * 20) });
    }
    for (let run = 0; run < RUNS; run++) {
      // Rotate which side goes first, so none always gets the warmer (or colder) server.
      for (const side of rotated(SIDES, run)) {
        const workload = {
          name: `edaflow-bench-${RUN}-${benchCase.broker}-${side}${run + 1}`,
          messages: benchCase.messages, batch: BATCH, prefetch: PREFETCH, concurrency: CONCURRENCY,
          timeoutMs: Math.max(60_000, benchCase.messages * 20),
        };
        process.stderr.write(`${label}: ${side} run ${run + 1}/${RUNS}, ${workload.messages} messages ... `);
        const timing = await measure(side, workload);
        rates[side].push(workload.messages / timing.seconds);
        publishRates[side].push(workload.messages / timing.publishSeconds);
        process.stderr.write(`${Math.round(workload.messages / timing.seconds)} msg/s (publishing alone: ${Math.round(workload.messages / timing.publishSeconds)} msg/s)\n`);
      }
    }
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0]!;
    process.stderr.write(`\n${label}: FAILED: ${reason}\n`);
    results[benchCase.broker] = { failed: reason };
    continue;
  }
  const rate = perSide((side) => median(rates[side]));
  results[benchCase.broker] = {
    edaflow: Math.round(rate.edaflow), raw: Math.round(rate.raw), ratio: Number((rate.edaflow / rate.raw).toFixed(3)),
    rawSameMessage: Math.round(rate['raw-ce']), ratioSameMessage: Number((rate.edaflow / rate['raw-ce']).toFixed(3)),
    headersCeiling: Number((rate['raw-ce'] / rate.raw).toFixed(3)),
    messages: benchCase.messages,
    publish: perSide((side) => Math.round(median(publishRates[side]))),
    runs: perSide((side) => rates[side].map(Math.round)),
  };
}

const header = ['broker', 'messages', 'edaflow msg/s', 'raw msg/s', 'ratio', `≥ ${TARGET}×`, 'raw, same message', 'ratio to it', 'same message ÷ raw', 'publishing alone: edaflow', 'raw', 'raw, same message'];
const rows = Object.entries(results).map(([broker, row]) =>
  'unavailable' in row ? [broker, '', '', '', '', `unavailable: ${row.unavailable}`]
    : 'failed' in row ? [broker, '', '', '', '', `FAILED: ${row.failed}`]
      : [broker, String(row.messages), String(row.edaflow), String(row.raw), row.ratio.toFixed(2), row.ratio >= TARGET ? 'yes' : 'NO',
        String(row.rawSameMessage), row.ratioSameMessage.toFixed(2), row.headersCeiling.toFixed(2), String(row.publish.edaflow), String(row.publish.raw), String(row.publish['raw-ce'])],
);
console.log(`publish → consume → ack, batches of ${BATCH}, prefetch ${PREFETCH}, concurrency ${CONCURRENCY}, median of ${RUNS} runs per side`);
console.log('edaflow: CloudEvents envelopes in binary mode + the consumer pipeline (decode, ajv validation, upcast check, handler, ack);');
console.log('raw: the client library with JSON.parse of each body; raw, same message: the same, sending the CloudEvents headers edaflow sends.');
console.log('same message ÷ raw: what the headers alone cost the client and the broker; the most the ratio can be through the same client calls.');
console.log('SQS runs fewer messages (ElasticMQ is slower).');
if (kafkaRaw.MIN_BYTES !== 1) console.log(`Kafka consumers on both sides fetch with minBytes ${kafkaRaw.MIN_BYTES} (fetch.min.bytes).`);
console.log('msg/s: first publish to last ack; publishing alone: first publish to last publish confirmed (consumer running meanwhile).');
console.log(formatTable(header, rows, /^(unavailable|FAILED)/));

writeResult('brokers', {
  messages: MESSAGES, sqsMessages: SQS_MESSAGES, batch: BATCH, prefetch: PREFETCH, concurrency: CONCURRENCY, runs: RUNS, target: TARGET, cases: results,
}, !only && SIDES.length === ALL_SIDES.length && kafkaRaw.MIN_BYTES === 1);
if (Object.values(results).some((row) => 'failed' in row)) process.exitCode = 1;
