/**
 * `npm run bench:streams`: records/s of a windowed join and of a tumbling aggregation through edaflow's
 * durable stream runner (Kafka carries inputs and outputs; state, inbox and outbox in PostgreSQL; group
 * commits: the records stepped while one transaction commits go in the next) against a minimal hand-written kafkajs consumer doing the same work in
 * memory in the same run (the ceiling: no state survives it, nothing is exactly once; kafkajs with edaflow's record
 * codec on both sides, as in bench:brokers). Each side's CPU time a record, and the stream core's alone
 * (the processor stepping the same records in memory). Also the heap the pure join core uses with
 * BENCH_BUFFERED records buffered. Writes bench/results/streams.json.
 *
 *   BENCH_ORDERS (40000: each with a payment, so twice as many join records; fewer measure start-up more than throughput: the ceiling reads 10,000 in a quarter of a second)  BENCH_BUFFERED (1000000)
 *   BENCH_CASES (join,aggregate)  BENCH_SIDES (edaflow,raw: both are needed for a ratio); BENCH_BUFFERED=0 skips the memory case.
 *   A run of some cases or sides, or without the memory case, is printed, not written.
 *
 *   node --expose-gc --import tsx bench/streams.ts
 */
import kafkajs from 'kafkajs';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../dist/runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../dist/runtime/envelope/index.js';
import { MemoryDedupStore } from '../dist/runtime/idempotency/dedup.js';
import { startMessaging } from '../dist/runtime/messaging/index.js';
import { createLogger } from '../dist/runtime/observability/logger.js';
import { createOutbox, startOutboxRelay } from '../dist/runtime/outbox/index.js';
import { openDatabase } from '../dist/runtime/store/database.js';
import { createProcessor, startStreams, streamModels } from '../dist/runtime/streams/index.js';
import { ensureServers } from '../test/servers/servers.mjs';
import { codecForBothSides } from './brokers/kafka.js';
import { machine, writeResult } from './results.js';

const ORDERS = Number(process.env['BENCH_ORDERS'] ?? 40_000);
const BUFFERED = Number(process.env['BENCH_BUFFERED'] ?? 1_000_000);
const KAFKA = process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092';
const POSTGRES_URL = process.env['EDAFLOW_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CASES = (process.env['BENCH_CASES'] ?? 'join,aggregate').split(',') as Case[];
const SIDES = (process.env['BENCH_SIDES'] ?? 'edaflow,raw').split(',');
const RUN = `${Date.now().toString(36)}`;
const logger = createLogger({ level: 'silent' });
const progress = (message: string): void => void process.stderr.write(`${message}\n`);

type Case = 'join' | 'aggregate';

const STREAMS: Record<Case, string> = {
  join: `Paid: { join: { left: { event: OrderPlaced, key: data.orderId }, right: { event: PaymentMade, key: data.orderId }, within: 5m, grace: 1m }, emit: { event: StreamOutput, data: { order: "{% left.id %}", payment: "{% right.id %}" } } }`,
  aggregate: `Spend: { aggregate: { from: { event: OrderPlaced }, groupBy: data.customerId, window: { tumbling: 10m, grace: 1m }, init: { count: 0, total: 0 }, reduce: { count: "{% state.count + 1 %}", total: "{% state.total + event.data.amount %}" } }, emit: { event: StreamOutput, data: { customerId: "{% key %}", count: "{% state.count %}", total: "{% state.total %}" } } }`,
};

async function definitionsFor(kind: Case): Promise<Definitions> {
  const yaml = `
edaflow: 1
brokers: { kafka: { type: kafka, brokers: ["${KAFKA}"], clientId: bench-streams } }
defaults: { broker: kafka }
topics: { orders-${kind}-${RUN}: {}, payments-${kind}-${RUN}: {}, results-${kind}-${RUN}: {} }
events:
  OrderPlaced: { topic: orders-${kind}-${RUN}, versions: { 1: { schema: { type: object } } } }
  PaymentMade: { topic: payments-${kind}-${RUN}, versions: { 1: { schema: { type: object } } } }
  StreamOutput: { topic: results-${kind}-${RUN}, versions: { 1: { schema: { type: object } } } }
streams:
  ${STREAMS[kind]}
`;
  const result = await loadDefinitions('/bench', { fileSystem: memoryFileSystem({ 'app.yaml': yaml }, '/bench') });
  if (!result.definitions) throw new Error(JSON.stringify(result.diagnostics));
  return result.definitions;
}

/** Orders a second apart, each paid 0–6 s later, in time order. */
function records(kind: Case): Envelope[] {
  const start = Date.parse('2025-03-10T00:00:00Z');
  const all: Envelope[] = [];
  for (let n = 0; n < ORDERS; n++) {
    all.push(createEnvelope('OrderPlaced', { orderId: `o${n}`, customerId: `c${n % 50}`, amount: n % 13 }, 'bench', { id: `order-${n}`, time: new Date(start + n * 1000).toISOString() }));
    if (kind === 'join') all.push(createEnvelope('PaymentMade', { orderId: `o${n}`, amount: n }, 'bench', { id: `payment-${n}`, time: new Date(start + n * 1000 + (n % 7) * 1000).toISOString() }));
  }
  return all.sort((a, b) => a.time.localeCompare(b.time));
}

/** edaflow: the stream consumes what is already published (start-up included, as the ceiling's group join is); records/s until all are handled. */
async function edaflowSide(kind: Case): Promise<Measured> {
  const definitions = await definitionsFor(kind);
  const database = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema: `bench_streams_${kind}_${RUN}` });
  const messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
  const input = records(kind);
  for (let index = 0; index < input.length; index += 500) await Promise.all(input.slice(index, index + 500).map((envelope) => messaging.publisher.deliver(envelope)));
  const relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger, pollIntervalMs: 100 });
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const streams = await startStreams({ definitions, database, catalog: messaging.catalog, brokers: messaging.brokers, plan: messaging.plan, outbox: createOutbox({ publisher: messaging.publisher }), logger });
  const name = streamModels(definitions)[0]!.name;
  for (;;) {
    const { rows } = await database.query<{ handled: string }>('select handled from edaflow_stream_tasks where stream = $1', [name]);
    if (Number(rows[0]?.handled ?? 0) >= input.length) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await streams.stop();
  await relay.stop();
  await messaging.stop();
  await database.query(`drop schema if exists "bench_streams_${kind}_${RUN}" cascade`);
  await database.close();
  return measured(input.length, seconds, cpu);
}

/** The ceiling: a kafkajs consumer of the same topics doing the same join (or window sums) in memory. */
async function rawSide(kind: Case): Promise<Measured> {
  const kafka = new kafkajs.Kafka({ clientId: 'bench-streams-raw', brokers: [KAFKA], logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `raw-${kind}-${RUN}` });
  const total = ORDERS * (kind === 'join' ? 2 : 1);
  const left = new Map<string, { id: string; time: number }[]>();
  const right = new Map<string, { id: string; time: number }[]>();
  const windows = new Map<string, { count: number; total: number }>();
  let seen = 0;
  let outputs = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.connect();
  await consumer.subscribe({ topics: [`orders-${kind}-${RUN}`, ...(kind === 'join' ? [`payments-${kind}-${RUN}`] : [])], fromBeginning: true });
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await consumer.run({
    eachMessage: async ({ message }) => {
      const type = String(message.headers?.['ce_type'] ?? '');
      const id = String(message.headers?.['ce_id'] ?? '');
      const time = Date.parse(String(message.headers?.['ce_time'] ?? ''));
      const data = JSON.parse(message.value!.toString()) as { orderId: string; customerId: string; amount: number };
      if (kind === 'join') {
        const [mine, other] = type === 'OrderPlaced' ? [left, right] : [right, left];
        outputs += (other.get(data.orderId) ?? []).filter((partner) => Math.abs(partner.time - time) <= 300_000).length;
        mine.set(data.orderId, [...(mine.get(data.orderId) ?? []), { id, time }]);
      } else {
        const key = `${data.customerId}:${Math.floor(time / 600_000)}`;
        const window = windows.get(key) ?? { count: 0, total: 0 };
        windows.set(key, { count: window.count + 1, total: window.total + data.amount });
      }
      if (++seen === total) done();
    },
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await consumer.disconnect();
  if (kind === 'join' && outputs === 0) throw new Error('the raw join found no pairs');
  return measured(total, seconds, cpu);
}

/** Records/s, and this process's CPU time (user + system) per record: steadier than records/s on a shared machine. */
interface Measured {
  readonly perSecond: number;
  readonly cpuMicrosPerRecord: number;
}

function measured(records: number, seconds: number, cpu: NodeJS.CpuUsage): Measured {
  return { perSecond: Math.round(records / seconds), cpuMicrosPerRecord: Math.round((cpu.user + cpu.system) / records) };
}

/**
 * The stream's core alone, in memory: the processor stepping the same records (no Kafka, no pipeline,
 * no database), best of three passes; what is left of the runner's CPU a record is everything around it.
 */
async function coreMicrosPerRecord(kind: Case): Promise<number> {
  const model = streamModels(await definitionsFor(kind))[0]!;
  const input = records(kind);
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 3; pass++) {
    const processor = createProcessor(model);
    const started = performance.now();
    for (const envelope of input) await processor.step(envelope);
    best = Math.min(best, ((performance.now() - started) * 1000) / input.length);
  }
  return Math.round(best * 10) / 10;
}

/** Heap in use by the pure join core holding BUFFERED unmatched records (distinct keys, spread over 5 minutes: all still within the 5m join window). */
async function bufferedMemory(): Promise<{ records: number; heapMB: number; bytesPerRecord: number }> {
  const definitions = await definitionsFor('join');
  const processor = createProcessor(streamModels(definitions)[0]!);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const start = Date.parse('2025-03-10T00:00:00Z');
  for (let n = 0; n < BUFFERED; n++) {
    await processor.step(createEnvelope('OrderPlaced', { orderId: `o${n}`, customerId: `c${n % 50}`, amount: 1 }, 'bench', { id: `m-${n}`, time: new Date(start + Math.floor((n * 300_000) / BUFFERED)).toISOString() }));
    if (n % 100_000 === 0) progress(`buffered ${n}`);
  }
  gc?.();
  const used = process.memoryUsage().heapUsed - before;
  return { records: processor.buffered, heapMB: Math.round(used / 1024 / 1024), bytesPerRecord: Math.round(used / processor.buffered) };
}

// One Kafka client library for both sides, whichever runs first: kafkajs with edaflow's record codec.
codecForBothSides('the streams bench');
await ensureServers(['kafka', 'postgres']);
const cases: Record<string, { edaflow: number; raw: number; ratio: number; records: number; cpuMicrosPerRecord: { edaflow: number; raw: number; edaflowCore: number } }> = {};
for (const kind of CASES) {
  const notRun: Measured = { perSecond: Number.NaN, cpuMicrosPerRecord: Number.NaN };
  const edaflow = SIDES.includes('edaflow') ? (progress(`${kind}: edaflow…`), await edaflowSide(kind)) : notRun;
  const raw = SIDES.includes('raw') ? (progress(`${kind}: raw kafkajs…`), await rawSide(kind)) : notRun;
  const core = await coreMicrosPerRecord(kind);
  const cpuMicrosPerRecord = { edaflow: edaflow.cpuMicrosPerRecord, raw: raw.cpuMicrosPerRecord, edaflowCore: core };
  cases[kind] = { edaflow: edaflow.perSecond, raw: raw.perSecond, ratio: Math.round((edaflow.perSecond / raw.perSecond) * 100) / 100, records: ORDERS * (kind === 'join' ? 2 : 1), cpuMicrosPerRecord };
  progress(`${kind}: edaflow ${edaflow.perSecond}/s (${edaflow.cpuMicrosPerRecord} µs CPU a record; its core alone ${core} µs), raw ${raw.perSecond}/s (${raw.cpuMicrosPerRecord} µs), ratio ${cases[kind]!.ratio}`);
}
const complete = CASES.length === 2 && SIDES.includes('edaflow') && SIDES.includes('raw') && BUFFERED > 0;
const memory = BUFFERED > 0 ? (progress('memory with records buffered…'), await bufferedMemory()) : undefined;
const result = { target: 0.7, cases, memory };
writeResult('streams', result, complete);
process.stdout.write(`${JSON.stringify({ machine: machine(), ...result }, null, 2)}\n`);
process.exit(0);
