import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { installRecordCodec, recordDecoder, recordEncoder, type RecordInput } from '../../runtime/brokers/kafka/record-codec.js';
import { KAFKA_BROKERS } from '../conformance/adapters/kafka.js';
import { eventually, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

/** kafkajs's own codec, loaded before the swap, is the reference: edaflow's must agree with it byte for byte. */
const require = createRequire(import.meta.url);
const PROTOCOL = 'kafkajs/src/protocol/';
type StockEncode = (record: RecordInput) => { buffer: Buffer };
const stockEncode = require(`${PROTOCOL}recordBatch/record/v0/index.js`) as StockEncode;
const stockDecode = require(`${PROTOCOL}recordBatch/record/v0/decoder.js`) as (decoder: unknown, context: object) => unknown;
const Encoder = require(`${PROTOCOL}encoder.js`) as { prototype: object };
const Decoder = require(`${PROTOCOL}decoder.js`) as new (buffer: Buffer) => { readVarInt(): number };
const Long = require('kafkajs/src/utils/long.js') as Parameters<typeof recordDecoder>[0];

const encode = recordEncoder(stockEncode as never, Encoder.prototype) as unknown as StockEncode;
const decode = recordDecoder(Long);
const CONTEXT = { firstOffset: '4294967296', firstTimestamp: '1764547200000', magicByte: 2, timestampType: 0, maxTimestamp: '1764547200999' };

/** A deterministic generator (mulberry32), so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXTS = ['', 'a', 'ce_id', 'content-type', 'Grüße', '日本語のヘッダー', '😀 emoji', 'x'.repeat(200), 'y'.repeat(20_000)];

function generatedRecord(next: () => number): RecordInput {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const bytes = (): Buffer | string | null => pick([null, pick(TEXTS), Buffer.from(pick(TEXTS))]);
  const headers: Record<string, Buffer | string | (Buffer | string)[]> = {};
  const count = Math.floor(next() * 12);
  for (let i = 0; i < count; i++) headers[`${pick(TEXTS).slice(0, 40)}${i}`] = next() < 0.1 ? [pick(TEXTS), Buffer.from(pick(TEXTS))] : next() < 0.5 ? pick(TEXTS) : Buffer.from(pick(TEXTS));
  return {
    // Varint size steps, and both edges of the fast path (a zigzag varint within ±2^30).
    offsetDelta: pick([0, 1, 63, 64, 8191, 8192, 100_000, 2 ** 30 - 1, 2 ** 30 + 5]),
    timestampDelta: pick([0, 1, -1, 63, -64, 1_000_000, 2 ** 30 - 1, -(2 ** 30), 2 ** 30, -(2 ** 30) - 1, 2 ** 40]),
    key: bytes(),
    value: bytes(),
    headers,
  };
}

describe('kafka record codec', () => {
  it('encodes every record into the bytes kafkajs would send, fallbacks included', () => {
    for (let seed = 1; seed <= 2_000; seed++) {
      const record = generatedRecord(random(seed));
      expect(encode(record).buffer.equals(stockEncode(record).buffer), `seed ${seed}`).toBe(true);
    }
  });

  it('decodes every record into what kafkajs would build, repeated header names gathered in arrays', () => {
    for (let seed = 1; seed <= 2_000; seed++) {
      const bytes = stockEncode(generatedRecord(random(seed))).buffer;
      const [ours, theirs] = [decode, stockDecode].map((decodeRecord) => {
        const decoder = new Decoder(bytes);
        decoder.readVarInt(); // the record's length, read by the batch decoder before it calls the record's
        return decodeRecord(decoder as never, CONTEXT);
      });
      // isDeepStrictEqual compares Buffers as bytes; toEqual walks them element by element (minutes here).
      expect(isDeepStrictEqual(ours, theirs), `seed ${seed}`).toBe(true);
    }
    const repeated = stockEncode({ value: 'v', headers: { trace: ['a', 'b', 'c'], id: 'x' } }).buffer;
    const decoder = new Decoder(repeated);
    decoder.readVarInt();
    expect(decode(decoder as never, CONTEXT).headers).toEqual({ trace: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], id: Buffer.from('x') });
  });

  it('hands byte-like values other than Buffer and string to kafkajs, whatever it makes of them', () => {
    for (const value of [new Uint8Array([1, 2, 3]), new DataView(new ArrayBuffer(2))]) {
      expect(encode({ value } as never).buffer.equals(stockEncode({ value } as never).buffer)).toBe(true);
    }
  });

  it('keeps headers named like Object properties as plain own values', () => {
    // JSON.parse makes `__proto__` an own property (an object literal would set the prototype instead).
    const sent = JSON.parse('{"__proto__":"p","constructor":"c","toString":"t","valueOf":["1","2"]}') as Record<string, string | string[]>;
    const bytes = encode({ value: 'v', headers: sent }).buffer;
    const decoder = new Decoder(bytes);
    decoder.readVarInt();
    const { headers } = decode(decoder as never, CONTEXT);
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.keys(headers)).toEqual(['__proto__', 'constructor', 'toString', 'valueOf']);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(Buffer.from('p'));
    expect(headers['constructor']).toEqual(Buffer.from('c'));
    expect(headers['toString']).toEqual(Buffer.from('t'));
    expect(headers['valueOf']).toEqual([Buffer.from('1'), Buffer.from('2')]); // a repeated name that objects inherit
  });

  it('refuses a record whose header count or name length is negative, as kafkajs fails on it', () => {
    for (const corrupt of [[0x00, 0x00, 0x00, 0x01, 0x01, 0x03], [0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03]]) {
      // attributes, timestamp delta, offset delta, null key, null value, then a header count of -2 (zigzag 3), or 1 header named with -2 bytes
      const decoder = new Decoder(Buffer.from(corrupt));
      expect(() => decode(decoder as never, CONTEXT)).toThrow(RangeError);
    }
  });

  it('is what kafkajs uses once installed, and a real broker stores and returns its records unchanged', async () => {
    await ensureServers(['kafka']);
    expect(installRecordCodec()).toEqual({ installed: true });
    expect(require(`${PROTOCOL}recordBatch/record/v0/index.js`)).not.toBe(stockEncode);
    expect(require(`${PROTOCOL}recordBatch/record/v0/decoder.js`)).not.toBe(stockDecode);

    const kafka = new kafkajs.Kafka({ clientId: 'edaflow-codec-test', brokers: KAFKA_BROKERS, logLevel: kafkajs.logLevel.NOTHING });
    const topic = uniqueName('codec');
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    const consumer = kafka.consumer({ groupId: `${topic}.g`, sessionTimeout: 6_000, heartbeatInterval: 200, maxWaitTimeInMs: 100 });
    const admin = kafka.admin();
    const sent = Array.from({ length: 300 }, (_, n) => generatedRecord(random(10_000 + n))).map(({ key, value, headers }) => ({ key, value, headers }));
    const received: kafkajs.KafkaMessage[] = [];
    try {
      await Promise.all([producer.connect(), consumer.connect(), admin.connect()]);
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      // In small batches: a batch is one Kafka message as far as the broker's 1 MB limit goes.
      for (let start = 0; start < sent.length; start += 10) await producer.send({ topic, acks: -1, messages: sent.slice(start, start + 10) as kafkajs.Message[] });
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void received.push(message) });
      await eventually(() => received.length >= sent.length, 60_000, () => `${received.length} of ${sent.length} records consumed`);
      expect(received).toHaveLength(sent.length);
      const bytes = (value: Buffer | string | null | undefined): Buffer | null => (value === null || value === undefined ? null : Buffer.from(value));
      received.forEach((message, n) => {
        expect(message.offset).toBe(String(n));
        expect(message.key).toEqual(bytes(sent[n]!.key));
        expect(message.value).toEqual(bytes(sent[n]!.value));
        const headers = Object.fromEntries(Object.entries(sent[n]!.headers ?? {}).map(([name, value]) => [name, Array.isArray(value) ? value.map(bytes) : bytes(value as Buffer | string)]));
        expect(message.headers).toEqual(headers);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  }, 120_000);
});
