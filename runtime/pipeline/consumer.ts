import type { DeadLetterInfo, Delivery, DestinationRef } from '../brokers/adapter.js';
import type { RetryPolicy } from '../definitions/index.js';
import { decode, type Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { DedupStore } from '../idempotency/dedup.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { Logger } from '../observability/logger.js';
import { Deadlines } from './deadlines.js';
import { retryDelay, shouldRetry } from './retry.js';

/** What a handler gets besides the message. */
export interface AttemptContext {
  readonly attempt: number;
  /** Aborted when the attempt times out or the consumer stops. */
  readonly signal: AbortSignal;
}

export type MessageHandler = (envelope: Envelope, context: AttemptContext) => Promise<void>;

export interface ConsumerOptions {
  /** The handler, saga or projection this pipeline feeds (for logs and metrics). */
  readonly name: string;
  readonly group: string;
  readonly origin: DestinationRef;
  /** Types this consumer handles; any other message on the destination is acknowledged and skipped. */
  readonly accepts: ReadonlySet<string>;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly headerPrefix: string;
  readonly catalog: MessageCatalog;
  /** Skip a message whose key (by default its id) this group has already handled. */
  readonly dedup?: { readonly store: DedupStore; readonly ttlMs: number; readonly key?: (envelope: Envelope) => Promise<string> };
  readonly logger: Logger;
  readonly handle: MessageHandler;
  readonly random?: () => number;
  readonly now?: () => Date;
}

export type Outcome = 'handled' | 'skipped' | 'duplicate' | 'retried' | 'dead-lettered';

/**
 * The one consumer pipeline every broker feeds: decode → validate → upcast → dedup → handler with a
 * timeout → ack; on failure retry with backoff, and after the last attempt (or at once, for a message
 * that is malformed, fails its schema, or fails with a non-retriable error) dead-letter with metadata.
 * Returns the outcome, for metrics and tests.
 */
export function createConsumer(options: ConsumerOptions): (delivery: Delivery) => Promise<Outcome> {
  const log = options.logger.child({ consumer: options.name, group: options.group });
  const deadlines = new Deadlines(options.timeoutMs);
  const now = options.now ?? (() => new Date());
  const deadLetter = async (delivery: Delivery, reason: DeadLetterInfo['reason'], error: string): Promise<Outcome> => {
    await delivery.deadLetter({ reason, error, attempts: delivery.attempt, origin: options.origin, group: options.group, failedAt: now().toISOString() });
    log.warn({ reason, error, attempts: delivery.attempt }, 'dead-lettered');
    return 'dead-lettered';
  };

  return async (delivery) => {
    let envelope: Envelope;
    try {
      envelope = decode(delivery.headers, delivery.body, options.headerPrefix);
    } catch (error) {
      return deadLetter(delivery, 'malformed', (error as Error).message);
    }
    if (!options.accepts.has(envelope.type)) {
      await delivery.ack();
      return 'skipped';
    }
    const latest = await options.catalog.toLatest(envelope);
    if ('problem' in latest) return deadLetter(delivery, 'invalid', `${envelope.type} ${latest.problem.pointer || '/'} ${latest.problem.message}`);
    const dedupKey = `${options.group}:${options.dedup?.key ? await options.dedup.key(latest.envelope) : envelope.id}`;
    if (options.dedup && (await options.dedup.store.has(dedupKey))) {
      await delivery.ack();
      return 'duplicate';
    }
    try {
      await withTimeout(deadlines, options.timeoutMs, (signal) => options.handle(latest.envelope, { attempt: delivery.attempt, signal }));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Errors say whether a retry can help (kafkajs's lesson); a plain Error is assumed transient.
      const retriable = (error as { retriable?: unknown } | null)?.retriable !== false;
      if (retriable && shouldRetry(options.retry, delivery.attempt)) {
        const delayMs = retryDelay(options.retry, delivery.attempt, options.random);
        log.info({ id: envelope.id, type: envelope.type, attempt: delivery.attempt, delayMs, error: message }, 'retrying');
        await delivery.retry(delayMs);
        return 'retried';
      }
      return deadLetter(delivery, 'failed', message);
    }
    if (options.dedup) await options.dedup.store.add(dedupKey, options.dedup.ttlMs);
    await delivery.ack();
    return 'handled';
  };
}

/** Runs `work` with an AbortSignal that fires after `timeoutMs`; rejects with EDA_HANDLER_TIMEOUT then. */
function withTimeout(deadlines: Deadlines, timeoutMs: number, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  return new Promise<void>((resolve, reject) => {
    const cancel = deadlines.start(() => {
      const error = new EdaflowError('EDA_HANDLER_TIMEOUT', `handler did not finish within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    });
    const settle = (error?: unknown): void => {
      cancel();
      if (error === undefined) resolve();
      else reject(error);
    };
    try {
      work(controller.signal).then(() => settle(), (error: unknown) => settle(error ?? new Error('handler rejected without a reason')));
    } catch (error) {
      settle(error ?? new Error('handler threw without a reason'));
    }
  });
}
