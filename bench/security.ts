/**
 * `npm run bench:security`: messages/s of publish → consume → ack through edaflow with message security
 * off against on, in the same run and on the same broker: encrypt (AES-256-GCM) + sign (HMAC-SHA256),
 * and encrypt + sign (Ed25519). Publishing goes through the Publisher's routing (validation, ordering key,
 * sealing) and the consumer through the one pipeline (size limit, decode, verify, replay check, decrypt,
 * ajv validation, handler, ack), so the ratio is the whole cost of security as a user pays it. Each mode
 * has its own destination and subscription for the whole run; in each of BENCH_ROUNDS rounds every mode
 * sends BENCH_MESSAGES, taking turns, so the machine's load drifts over all modes alike. A case's ratio
 * is the median over rounds of on / off within the round. Prints progress to stderr, a table to stdout,
 * writes bench/results/security.json.
 *
 *   BENCH_MESSAGES (1000 per mode and round)  BENCH_ROUNDS (7)  BENCH_BATCH (50)  BENCH_PREFETCH (50)  BENCH_CONCURRENCY (10)
 *   BENCH_WARMUP (500 messages per mode, once, unmeasured)  BENCH_BROKERS (postgres,rabbitmq,kafka)  BENCH_MODES (off,aes+hmac,aes+ed25519)
 *   A run of some brokers or modes is printed, not written.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerAdapter, DestinationRef, GroupSpec, OutgoingMessage, Topology } from '../dist/runtime/brokers/adapter.js';
import { createBroker } from '../dist/runtime/brokers/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions, type RetryPolicy } from '../dist/runtime/definitions/index.js';
import { MemoryDedupStore } from '../dist/runtime/idempotency/dedup.js';
import { MessageCatalog } from '../dist/runtime/messages/catalog.js';
import { planMessaging, Publisher } from '../dist/runtime/messaging/index.js';
import { createLogger } from '../dist/runtime/observability/logger.js';
import { createConsumer } from '../dist/runtime/pipeline/consumer.js';
import { openDatabase } from '../dist/runtime/store/database.js';
import { ensureServers } from '../test/servers/servers.mjs';
import { chunks, payload } from './brokers/common.js';
import * as kafkaRaw from './brokers/kafka.js';
import * as rabbitmqRaw from './brokers/rabbitmq.js';
import { writeResult } from './results.js';
import { formatTable, median } from './table.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const MESSAGES = env('BENCH_MESSAGES', 1_000);
const BATCH = env('BENCH_BATCH', 50);
const PREFETCH = env('BENCH_PREFETCH', 50);
const CONCURRENCY = env('BENCH_CONCURRENCY', 10);
const ROUNDS = env('BENCH_ROUNDS', 7);
const WARMUP = env('BENCH_WARMUP', 500);
const RUN = `s${Date.now().toString(36)}`;
const TARGET = 0.85;
const logger = createLogger({ level: 'silent' });
const NO_RETRY: RetryPolicy = { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false };

const ALL_MODES = ['off', 'aes+hmac', 'aes+ed25519'] as const;
type Mode = (typeof ALL_MODES)[number];
/** BENCH_MODES=off (or aes+hmac, ...) runs some modes only, e.g. under `node --cpu-prof`; ratios need `off`. */
const MODES = ALL_MODES.filter((mode) => (process.env['BENCH_MODES'] ?? ALL_MODES.join(',')).split(',').includes(mode));

/** Keys for this run only, handed to the definitions as their environment (as a deployment would). */
const pair = generateKeyPairSync('ed25519');
const KEYS = {
  ENC_KEY: randomBytes(32).toString('base64'),
  HMAC_KEY: randomBytes(32).toString('base64'),
  ED_PUBLIC: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  ED_PRIVATE: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
const SECURITY: Record<Mode, string> = {
  off: '',
  'aes+hmac': 'security: { encrypt: { keys: { k1: "${ENC_KEY}" } }, sign: { algorithm: hmac-sha256, keys: { s1: "${HMAC_KEY}" } } }',
  'aes+ed25519': 'security: { encrypt: { keys: { k1: "${ENC_KEY}" } }, sign: { algorithm: ed25519, keys: { e1: { publicKey: "${ED_PUBLIC}", privateKey: "${ED_PRIVATE}" } } } }',
};

/** A broker case: one adapter for every run (each run on a destination of its own), and how to remove a run's destination. */
interface Case {
  readonly broker: string;
  readonly servers: readonly ('rabbitmq' | 'kafka')[];
  readonly kind: DestinationRef['kind'];
  open(): Promise<{ adapter: BrokerAdapter; dispose: () => Promise<void> }>;
  topology(destination: DestinationRef, group: GroupSpec): Topology;
  cleanup(names: readonly string[]): Promise<void>;
}

const queueTopology = (destination: DestinationRef, group: GroupSpec): Topology => ({ topics: [], queues: [{ name: destination.name, deadLetter: null, maxDeliveries: 5 }], groups: [group] });

const CASES: Case[] = [
  {
    // The default: the postgres broker on the embedded database.
    broker: 'postgres',
    servers: [],
    kind: 'queue',
    open: async () => {
      const path = mkdtempSync(join(tmpdir(), 'edaflow-bench-security-'));
      const database = await openDatabase({ type: 'embedded', path });
      const adapter = await createBroker('postgres', { type: 'postgres' }, { logger, database });
      return { adapter, dispose: async () => (await database.close(), rmSync(path, { recursive: true, force: true })) };
    },
    topology: queueTopology,
    cleanup: async () => undefined,
  },
  {
    broker: 'rabbitmq',
    servers: ['rabbitmq'],
    kind: 'queue',
    open: async () => ({ adapter: await createBroker('rabbitmq', { type: 'rabbitmq', url: rabbitmqRaw.RABBITMQ_URL }, { logger }), dispose: async () => undefined }),
    topology: queueTopology,
    cleanup: (names) => rabbitmqRaw.dropQueues(names),
  },
  {
    broker: 'kafka',
    servers: ['kafka'],
    kind: 'topic',
    open: async () => {
      const { KafkaBroker } = await import('../dist/runtime/brokers/kafka.js');
      const timings = kafkaRaw.GROUP_TIMINGS;
      const options = { sessionTimeoutMs: timings.sessionTimeout, heartbeatIntervalMs: timings.heartbeatInterval, rebalanceTimeoutMs: timings.rebalanceTimeout, maxWaitTimeMs: timings.maxWaitTimeInMs };
      return { adapter: new KafkaBroker('kafka', { type: 'kafka', brokers: kafkaRaw.KAFKA_BROKERS, clientId: 'edaflow-bench-security' }, logger, options), dispose: async () => undefined };
    },
    topology: (destination, group) => ({ topics: [{ name: destination.name, partitions: kafkaRaw.PARTITIONS }], queues: [], groups: [group] }),
    cleanup: async (names) => {
      const admin = kafkaRaw.kafkaClient('edaflow-bench-security-cleanup').admin();
      await admin.connect();
      for (const name of names) await kafkaRaw.dropTopic(admin, name, [`${name}.bench`]).catch(() => undefined);
      await admin.disconnect();
    },
  },
];

/** The definitions of one run: its destination, with or without security, and the Ping event on it. */
async function definitionsFor(kind: DestinationRef['kind'], name: string, mode: Mode): Promise<Definitions> {
  const yaml = `
edaflow: 1
${kind === 'topic' ? 'topics' : 'queues'}:
  ${name}: { ${SECURITY[mode]} }
${kind === 'topic' ? 'events' : 'commands'}:
  Ping:
    ${kind}: ${name}
    ${kind === 'topic' ? 'versions: { 1: { schema: SCHEMA } }' : 'schema: SCHEMA'}
`.replace('SCHEMA', '{ type: object, required: [n, label], properties: { n: { type: integer }, label: { type: string } }, additionalProperties: false }');
  const result = await loadDefinitions('/bench', { fileSystem: memoryFileSystem({ 'app.yaml': yaml }, '/bench'), mode: 'run', env: KEYS });
  if (!result.definitions) throw new Error(`bench definitions are invalid: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.definitions as Definitions;
}

/**
 * One mode on one broker: its own destination (declared with or without security), subscribed once
 * through the consumer pipeline, kept for every round, so a round times only publish → consume → ack.
 */
interface Lane {
  readonly mode: Mode;
  readonly name: string;
  /** Publishes `messages` (routed: validated and sealed) and resolves when the last one is acknowledged. */
  round(messages: number): Promise<{ seconds: number; cpuMicros: number }>;
  stop(): Promise<void>;
}

async function openLane(benchCase: Case, adapter: BrokerAdapter, mode: Mode, name: string): Promise<Lane> {
  const destination: DestinationRef = { kind: benchCase.kind, name };
  const group: GroupSpec = { destination, group: 'bench', deadLetter: null, retry: NO_RETRY };
  const definitions = await definitionsFor(benchCase.kind, name, mode);
  const catalog = MessageCatalog.build(definitions, {}, { replays: new MemoryDedupStore() });
  const plan = planMessaging(definitions);
  const publisher = new Publisher(definitions, catalog, plan, new Map([[plan.brokerOf(destination), adapter]]));
  await adapter.provision(benchCase.topology(destination, group));
  let waiting: { remaining: number; done: () => void } | undefined;
  const unexpected: string[] = [];
  const pipeline = createConsumer({
    name: 'bench', group: 'bench', origin: destination, accepts: new Set(['Ping']), retry: NO_RETRY, timeoutMs: 10_000,
    headerPrefix: adapter.capabilities.headerPrefix, catalog, logger, handle: async () => undefined,
  });
  const subscription = await adapter.subscribe({ ...group, prefetch: PREFETCH, concurrency: CONCURRENCY }, async (delivery) => {
    const outcome = await pipeline(delivery);
    if (outcome !== 'handled') unexpected.push(outcome);
    if (waiting && --waiting.remaining === 0) waiting.done();
  });
  let sent = 0;
  return {
    mode,
    name,
    async round(messages) {
      const acknowledged = new Promise<void>((resolve) => (waiting = { remaining: messages, done: resolve }));
      const timeout = setTimeout(() => waiting?.done(), Math.max(60_000, messages * 20));
      const envelopes = Array.from({ length: messages }, () => publisher.envelopeOf('Ping', payload(sent++)));
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      for (const batch of chunks(envelopes, BATCH)) {
        // Routed together, as the outbox routes the messages of one transaction.
        const routed: OutgoingMessage[] = (await Promise.all(batch.map((envelope) => publisher.route(envelope)))).map((route) => route!.message);
        await adapter.publish(destination, routed);
      }
      await acknowledged;
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      clearTimeout(timeout);
      if (waiting!.remaining > 0) throw new Error(`${benchCase.broker} ${mode}: only ${messages - waiting!.remaining} of ${messages} messages acknowledged in time`);
      if (unexpected.length) throw new Error(`${benchCase.broker} ${mode}: ${unexpected.length} messages were not handled (${unexpected[0]})`);
      return { seconds, cpuMicros: cpu.user + cpu.system };
    },
    stop: () => subscription.stop(),
  };
}


/**
 * The cryptography alone, per message, with nothing of edaflow around it: what a message of this bench
 * needs at the least. AES-256-GCM encrypts its data (the attributes as additional data) and decrypts it;
 * HMAC-SHA256 signs and verifies attributes + body; Ed25519 signs and verifies once per batch (synchronously,
 * the cheapest way) and hashes each message's leaf on both sides. Best of 5 passes over `messages`.
 * Added to the time a message takes without security (1 / off msg/s), it bounds the ratio: what it
 * would be if sealing cost nothing else and messages did not grow. (The process's CPU runs the
 * publish → consume → ack path of each batch, so its CPU time adds to the time per message: the
 * 50–157 µs of CPU that security added to a message made it 43–127 µs slower, 0.8–0.98 of it.)
 */
function cryptoAloneMicros(mode: Exclude<Mode, 'off'>, messages = 20_000): number {
  const aesKey = createSecretKey(randomBytes(32));
  const hmacKey = createSecretKey(randomBytes(32));
  const attributes = Buffer.from('x'.repeat(190)); // about the canonical attributes' size
  const bodies = Array.from({ length: messages }, (_, n) => Buffer.from(JSON.stringify(payload(n))));
  // Nonces drawn in bulk, as the seal does (runtime/security/seal.ts).
  const nonces = randomBytes(12 * messages);
  const passes: number[] = [];
  for (let pass = 0; pass < 5; pass++) {
    const started = process.cpuUsage();
    for (let n = 0; n < messages; n++) {
      const sealed = encrypt(aesKey, nonces.subarray(12 * n, 12 * n + 12), attributes, bodies[n]!);
      if (mode === 'aes+hmac') {
        const signature = createHmac('sha256', hmacKey).update(attributes).update(sealed.data).digest();
        if (!timingSafeEqual(signature, createHmac('sha256', hmacKey).update(attributes).update(sealed.data).digest())) throw new Error('HMAC mismatch');
      } else {
        const leaf = createHash('sha256').update(attributes).update(sealed.data).digest();
        createHash('sha256').update(leaf).digest();
        if (n % BATCH === 0 && !verify(null, leaf, pair.publicKey, sign(null, leaf, pair.privateKey))) throw new Error('Ed25519 mismatch');
      }
      decrypt(aesKey, attributes, sealed);
    }
    const used = process.cpuUsage(started);
    passes.push((used.user + used.system) / messages);
  }
  return Math.min(...passes);
}

function encrypt(key: KeyObject, iv: Buffer, attributes: Buffer, plain: Buffer): { iv: Buffer; data: Buffer; tag: Buffer } {
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(attributes);
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { iv, data, tag: cipher.getAuthTag() };
}

function decrypt(key: KeyObject, attributes: Buffer, sealed: { iv: Buffer; data: Buffer; tag: Buffer }): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv).setAAD(attributes).setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.data), decipher.final()]);
}

type Row =
  | {
    broker: string; mode: Exclude<Mode, 'off'>; off: number; on: number; ratio: number; cpuMicrosPerMessage: { off: number; on: number };
    /** The cryptography alone (cryptoAloneMicros), and t ÷ (t + it) for t = 1 / off msg/s: the ratio if nothing else of sealing cost anything. */
    cryptoMicrosPerMessage: number; bound: number;
    rounds: { off: number[]; on: number[]; ratio: number[] } }
  | { broker: string; failed: string };

const only = process.env['BENCH_BROKERS']?.split(',').map((name) => name.trim());
const selected = CASES.filter((benchCase) => !only || only.includes(benchCase.broker));
const servers = [...new Set(selected.flatMap((c) => c.servers))];
process.stderr.write(`checking servers: ${servers.join(', ') || '(none: embedded database)'}\n`);
await ensureServers(servers, { log: (line: string) => process.stderr.write(`  ${line}\n`) });
const SEALING = (['aes+hmac', 'aes+ed25519'] as const).filter((mode) => MODES.includes(mode));
process.stderr.write('measuring the cryptography alone\n');
const cryptoAlone = Object.fromEntries(SEALING.map((mode) => [mode, cryptoAloneMicros(mode)])) as Record<Exclude<Mode, 'off'>, number>;

const results: Record<string, Row> = {};
for (const [index, benchCase] of selected.entries()) {
  const label = `[${index + 1}/${selected.length}] ${benchCase.broker}`;
  const rates: Record<Mode, number[]> = { off: [], 'aes+hmac': [], 'aes+ed25519': [] };
  const cpu: Record<Mode, number[]> = { off: [], 'aes+hmac': [], 'aes+ed25519': [] };
  const lanes: Lane[] = [];
  let opened: Awaited<ReturnType<Case['open']>> | undefined;
  try {
    opened = await benchCase.open();
    await opened.adapter.connect();
    for (const mode of MODES) {
      const lane = await openLane(benchCase, opened.adapter, mode, `edaflow-bench-${RUN}-${benchCase.broker}-${mode.replace(/\W/g, '')}`);
      lanes.push(lane);
      process.stderr.write(`${label}: ${mode} warm-up, ${WARMUP} messages\n`);
      await lane.round(WARMUP);
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Modes take turns within each round (rotating who goes first), so a change in the machine's load
      // hits all of them alike; each round's ratio compares runs a few seconds apart.
      process.stderr.write(`${label}: round ${round + 1}/${ROUNDS}, ${MESSAGES} messages per mode:`);
      for (let i = 0; i < lanes.length; i++) {
        const lane = lanes[(i + round) % lanes.length]!;
        const measured = await lane.round(MESSAGES);
        rates[lane.mode].push(MESSAGES / measured.seconds);
        cpu[lane.mode].push(measured.cpuMicros / MESSAGES);
        process.stderr.write(` ${lane.mode} ${Math.round(MESSAGES / measured.seconds)} msg/s (${Math.round(measured.cpuMicros / MESSAGES)} µs CPU/msg)`);
      }
      process.stderr.write('\n');
    }
    for (const mode of MODES.includes('off') ? SEALING : []) {
      const ratios = rates[mode].map((on, round) => on / rates.off[round]!);
      const cpuOff = median(cpu.off);
      const microsOff = 1e6 / median(rates.off);
      results[`${benchCase.broker} ${mode}`] = {
        broker: benchCase.broker, mode, off: Math.round(median(rates.off)), on: Math.round(median(rates[mode])), ratio: Number(median(ratios).toFixed(3)),
        cpuMicrosPerMessage: { off: Math.round(cpuOff), on: Math.round(median(cpu[mode])) },
        cryptoMicrosPerMessage: Number(cryptoAlone[mode].toFixed(1)), bound: Number((microsOff / (microsOff + cryptoAlone[mode])).toFixed(3)),
        rounds: { off: rates.off.map(Math.round), on: rates[mode].map(Math.round), ratio: ratios.map((ratio) => Number(ratio.toFixed(3))) },
      };
    }
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0]!;
    process.stderr.write(`\n${label}: FAILED: ${reason}\n`);
    results[benchCase.broker] = { broker: benchCase.broker, failed: reason };
  } finally {
    for (const lane of lanes) await lane.stop().catch(() => undefined);
    await opened?.adapter.close().catch(() => undefined);
    await benchCase.cleanup(lanes.map((lane) => lane.name)).catch(() => undefined);
    await opened?.dispose().catch(() => undefined);
  }
}

const header = ['case', 'messages/round', 'off msg/s', 'on msg/s', 'ratio', `≥ ${TARGET}×`, 'CPU µs/msg off', 'on', 'crypto alone', 'bound'];
const rows = Object.entries(results).map(([name, row]) =>
  'failed' in row ? [name, '', '', '', '', `FAILED: ${row.failed}`] : [name, String(MESSAGES), String(row.off), String(row.on), row.ratio.toFixed(2), row.ratio >= TARGET ? 'yes' : 'NO', String(row.cpuMicrosPerMessage.off), String(row.cpuMicrosPerMessage.on), row.cryptoMicrosPerMessage.toFixed(1), row.bound.toFixed(2)],
);
console.log(`publish (route: validate + seal) → consume (pipeline: limit, decode, verify, replay check, decrypt, validate) → ack`);
console.log(`batches of ${BATCH}, prefetch ${PREFETCH}, concurrency ${CONCURRENCY}; ${ROUNDS} rounds of ${MESSAGES} messages per mode, modes taking turns; msg/s: median per mode; ratio: median over rounds of on / off (target ≥ ${TARGET}×)`);
console.log('CPU µs/msg: user + system time of this process (publisher and consumer; the embedded database too, not a server broker) per message: steadier than msg/s on a shared machine.');
console.log('crypto alone: CPU µs/msg of the cipher and signature calls a message needs, nothing else; bound: t ÷ (t + that), t = 1 / off msg/s: the ratio if the rest of sealing cost nothing.');
console.log(formatTable(header, rows, /^FAILED/));

writeResult('security', {
  messagesPerRound: MESSAGES, rounds: ROUNDS, batch: BATCH, prefetch: PREFETCH, concurrency: CONCURRENCY, target: TARGET, cases: results,
}, !only && MODES.length === ALL_MODES.length);
if (Object.values(results).some((row) => 'failed' in row)) process.exitCode = 1;
