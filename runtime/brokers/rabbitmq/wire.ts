import type { MessageProperties, Options } from 'amqplib';
import type { Headers } from '../../envelope/index.js';
import type { DestinationRef } from '../adapter.js';

/** CloudEvents AMQP binding: attributes as `cloudEvents:`-prefixed application properties (headers). */
export const HEADER_PREFIX = 'cloudEvents:';
/** Ordering key of a topic message: a header, because the retry queue rewrites the routing key. */
export const KEY_HEADER = 'edaflow-key';
/**
 * The attempt that failed before a retry, written on the retry copy. The broker's `x-death` count is the
 * primary counter; this header backs it up where a broker ignores publisher-set `x-death` (RabbitMQ 4).
 */
export const ATTEMPT_HEADER = 'edaflow-attempt';

/** The queue a consumer group reads: a topic's group has its own queue bound to the topic's exchange. */
export function groupQueue(topic: string, group: string): string {
  return `${topic}.${group}`;
}

export function consumedQueue(destination: DestinationRef, group: string): string {
  return destination.kind === 'topic' ? groupQueue(destination.name, group) : destination.name;
}

/**
 * Per-message TTLs only expire at a queue's head, so one retry queue holding a 30 s and a 1 s delay
 * would hold the short one for 30 s. Delays are put in tiers (two significant digits) with one queue
 * each: within a tier every TTL is within 10% of the others, so head-of-line waiting stays under that.
 */
export function retryTier(delayMs: number): number {
  const ms = Math.max(0, Math.round(delayMs));
  if (ms === 0) return 0;
  const step = 10 ** Math.max(0, Math.floor(Math.log10(ms)) - 1);
  return Math.ceil(ms / step) * step;
}

export function retryQueue(origin: string, tier: number): string {
  return `${origin}.retry.${tier}ms`;
}

type RawHeaders = Record<string, unknown>;

interface DeathRecord {
  readonly queue?: unknown;
  readonly reason?: unknown;
  readonly count?: unknown;
  readonly time?: unknown;
}

export function deaths(headers: RawHeaders | undefined): DeathRecord[] {
  const value = headers?.['x-death'];
  return Array.isArray(value) ? (value as DeathRecord[]) : [];
}

/**
 * 1 on first delivery. Retry cycles are counted by the broker in `x-death` (reason `expired` from this
 * queue's retry queues), and deliveries lost to a crash or a closed channel by the quorum queue's
 * `x-delivery-count`: both live in the stored message, so the count survives a process crash.
 */
export function attemptOf(headers: RawHeaders | undefined, origin: string): number {
  const cycles = deaths(headers)
    .filter((death) => death.reason === 'expired' && String(death.queue).startsWith(`${origin}.retry.`))
    .reduce((sum, death) => sum + (Number(death.count) || 1), 0);
  const recorded = Number(headers?.[ATTEMPT_HEADER] ?? 0) || 0;
  const redeliveries = Number(headers?.['x-delivery-count'] ?? 0) || 0;
  return Math.max(cycles, recorded) + 1 + redeliveries;
}

/** Headers as the pipeline reads them: strings only (`x-death` and other tables are left out). */
export function toHeaders(properties: MessageProperties): Headers {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries((properties.headers ?? {}) as RawHeaders)) {
    if (typeof value === 'string') headers[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') headers[name] = String(value);
    else if (Buffer.isBuffer(value)) headers[name] = value.toString('utf8');
  }
  if (typeof properties.contentType === 'string') headers['content-type'] = properties.contentType;
  return headers;
}

/** `encodeBinary` headers → AMQP properties: `content-type` is the contentType property, the rest headers. */
export function publishOptions(headers: Record<string, unknown>, messageId: string): Options.Publish & { messageId: string } {
  const { 'content-type': contentType, ...rest } = headers;
  return { headers: rest, contentType: typeof contentType === 'string' ? contentType : 'application/json', messageId, persistent: true, timestamp: Math.floor(Date.now() / 1000) };
}

/** Broker bookkeeping a copy must not carry: the redelivery count belongs to the queue it was read from. */
const COPY_DROPS = ['x-delivery-count', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'x-last-death-exchange', 'x-last-death-queue', 'x-last-death-reason'];

/**
 * Headers of a retry copy: `x-death` kept (counts re-typed as long, which amqplib would otherwise encode
 * as a byte), so the broker increments it when the retry queue dead-letters the copy back.
 */
export function retryCopyHeaders(headers: RawHeaders | undefined, attempt: number): RawHeaders {
  const copy: RawHeaders = { ...headers, [ATTEMPT_HEADER]: String(attempt) };
  for (const name of COPY_DROPS) delete copy[name];
  const history = deaths(headers);
  if (history.length) copy['x-death'] = history.map((death) => ({ ...death, count: { '!': 'long', value: Number(death.count) || 1 } }));
  return copy;
}

/** Headers of a message going back to its origin from the DLQ: a fresh start, attempts from 1. */
export function replayHeaders(headers: RawHeaders | undefined, keep: (name: string) => boolean): RawHeaders {
  const copy: RawHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name === 'x-death' || name === ATTEMPT_HEADER || COPY_DROPS.includes(name) || !keep(name)) continue;
    copy[name] = value;
  }
  return copy;
}
