import { describe, expect, it } from 'vitest';
import type { DeadLetterInfo, Delivery, DestinationRef } from '../../runtime/brokers/adapter.js';
import { encodeBinary, type Envelope } from '../../runtime/envelope/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createConsumer } from '../../runtime/pipeline/consumer.js';
import { definitionsOf, HMAC_AND_AES, newKey, securedYaml } from './setup.js';

const TOPIC: DestinationRef = { kind: 'topic', name: 'secured' };
const PREFIX = 'ce-';

/** How a broker hands the pipeline one message, recording how it was settled. */
function delivery(wire: { headers: Record<string, string>; body: Buffer }, attempt: number, settled: string[], options: { ackFails?: boolean } = {}): Delivery {
  return {
    headers: wire.headers, body: wire.body, attempt,
    ack: async () => {
      if (options.ackFails) throw new Error('connection lost before the ack');
      settled.push('ack');
    },
    retry: async () => void settled.push('retry'),
    deadLetter: async (info: DeadLetterInfo) => void settled.push(`dead-letter ${info.reason}: ${info.error}`),
  };
}

/**
 * Replay protection: a signed message this group already handled and acknowledged is never handled
 * again, whether it was published again or redelivered (refused with a warning, acknowledged); one
 * that was never acknowledged is handled when it comes back.
 */
describe('replayed signed messages', () => {
  async function setup(handle: (envelope: Envelope, attempt: number) => Promise<void>) {
    const definitions = await definitionsOf(securedYaml(HMAC_AND_AES), { KEY_1: newKey(), KEY_2: newKey(), SIGN_KEY: newKey() });
    const catalog = MessageCatalog.build(definitions, {}, { replays: new MemoryDedupStore() });
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as { level: string; msg: string }) } });
    const pipeline = createConsumer({
      name: 'auditor', group: 'auditor', origin: TOPIC, accepts: new Set(['Secret']), headerPrefix: PREFIX, catalog,
      retry: { attempts: 3, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false }, timeoutMs: 5_000,
      logger, handle: (envelope, context) => handle(envelope, context.attempt),
    });
    const sealed = await catalog.security.of(TOPIC).seal({ specversion: '1.0', id: 'm-1', source: 'test', type: 'Secret', time: new Date().toISOString(), datacontenttype: 'application/json', dataversion: 1, data: { n: 1 } });
    return { pipeline, wire: encodeBinary(sealed, PREFIX), lines };
  }

  it('refuses an id already handled, published again or redelivered: acknowledged, never handled twice, a warning each time', async () => {
    let calls = 0;
    const { pipeline, wire, lines } = await setup(async () => void calls++);
    const settled: string[] = [];
    expect(await pipeline(delivery(wire, 1, settled))).toBe('handled');
    expect(await pipeline(delivery(wire, 1, settled))).toBe('duplicate');
    expect(await pipeline(delivery(wire, 2, settled))).toBe('duplicate');
    expect(settled).toEqual(['ack', 'ack', 'ack']);
    expect(calls).toBe(1);
    const warnings = lines.filter((line) => line.level === 'warn').map((line) => line.msg);
    expect(warnings).toEqual([0, 1].map(() => 'replayed signed message refused: m-1 was already handled by group auditor (published again, or redelivered after a crash)'));
  });

  it('a message whose handler failed, or whose ack was lost, is handled when it comes again: it was never handled and acknowledged', async () => {
    let calls = 0;
    const { pipeline, wire } = await setup(async (_envelope, attempt) => {
      calls++;
      if (attempt === 1) throw new Error('database down');
    });
    const settled: string[] = [];
    expect(await pipeline(delivery(wire, 1, settled))).toBe('retried');
    await expect(pipeline(delivery(wire, 2, settled, { ackFails: true }))).rejects.toThrow('connection lost');
    expect(await pipeline(delivery(wire, 3, settled))).toBe('handled');
    expect(settled).toEqual(['retry', 'ack']);
    expect(calls).toBe(3);
  });
});
