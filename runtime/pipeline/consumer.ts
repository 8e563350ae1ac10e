import type { DeadLetterInfo, Delivery, DestinationRef } from '../brokers/adapter.js';
import type { RetryPolicy } from '../definitions/index.js';
import { decode, type Envelope } from '../envelope/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { DedupStore } from '../idempotency/dedup.js';
import type { MessageCatalog } from '../messages/catalog.js';
import { CLOCK_SKEW_MS, type DestinationSecurity } from '../security/index.js';
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
 * The one consumer pipeline every broker feeds: size limit → decode → security (verify the signature,
 * refuse a replay, decrypt) → validate → upcast → dedup → handler with a timeout → ack; on failure retry
 * with backoff, and after the last attempt (or at once, for a message that is too large, malformed,
 * fails its destination's security or its schema, or fails with a non-retriable error) dead-letter with
 * metadata. A dead-lettered message keeps its bytes as received. Returns the outcome, for metrics and tests.
 */
export function createConsumer(options: ConsumerOptions): (delivery: Delivery) => Promise<Outcome> {
  const log = options.logger.child({ consumer: options.name, group: options.group });
  const deadlines = new Deadlines(options.timeoutMs);
  const now = options.now ?? (() => new Date());
  const security = options.catalog.security.of(options.origin);
  const { maxPayloadBytes } = security.policy;
  const replays = replayGuard(options, security);
  const deadLetter = async (delivery: Delivery, reason: DeadLetterInfo['reason'], error: string): Promise<Outcome> => {
    await delivery.deadLetter({ reason, error, attempts: delivery.attempt, origin: options.origin, group: options.group, failedAt: now().toISOString() });
    log.warn({ reason, error, attempts: delivery.attempt }, 'dead-lettered');
    return 'dead-lettered';
  };

  /**
   * Verify the signature, refuse a replay (acknowledged and skipped, with a warning), decrypt. A
   * message that fails is refused (dead-lettered); a failing replay store is not the message's fault:
   * its error propagates, and the broker redelivers.
   */
  const unseal = async (delivery: Delivery, envelope: Envelope): Promise<{ envelope: Envelope; replayKey: string | undefined } | { duplicate: true } | { refused: DeadLetterInfo['reason']; error: string }> => {
    try {
      await security.verify(envelope, delivery.body, now().getTime());
    } catch (error) {
      return refusal(error);
    }
    const replayKey = replays && `${options.group}:replay:${envelope.id}`;
    if (replayKey && (await replays!.store.has(replayKey))) {
      // Refused, never handled twice. Not dead-lettered: Kafka cannot tell a redelivery after a crash
      // (its offset commit lags the ack) from the same signed message published again; both show as a
      // first attempt, and a dead letter for every crash would bury the real alarms.
      log.warn({ id: envelope.id, type: envelope.type, attempt: delivery.attempt }, `replayed signed message refused: ${envelope.id} was already handled by group ${options.group} (published again, or redelivered after a crash)`);
      return { duplicate: true };
    }
    try {
      return { envelope: security.open(envelope), replayKey };
    } catch (error) {
      return refusal(error);
    }
  };

  return async (delivery) => {
    // Before anything reads it: a huge body would cost memory and CPU to parse.
    if (delivery.body.length > maxPayloadBytes) {
      return deadLetter(delivery, 'rejected', `payload of ${delivery.body.length} bytes is over the limit of ${maxPayloadBytes} bytes (maxPayload of ${options.origin.kind} ${options.origin.name})`);
    }
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
    let replayKey: string | undefined;
    if (security.encrypts || security.signs) {
      const opened = await unseal(delivery, envelope);
      if ('refused' in opened) return deadLetter(delivery, opened.refused, opened.error);
      if ('duplicate' in opened) {
        await delivery.ack();
        return 'duplicate';
      }
      ({ envelope, replayKey } = opened);
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
    if (replayKey) await replays!.store.add(replayKey, replays!.ttlMs);
    return 'handled';
  };
}

/** A message the destination's security refuses (rejected) or whose decrypted body is not JSON (malformed); any other error is rethrown. */
function refusal(error: unknown): { refused: DeadLetterInfo['reason']; error: string } {
  if (isEdaflowError(error, 'EDA_MESSAGE_REJECTED')) return { refused: 'rejected', error: error.message };
  if (isEdaflowError(error, 'EDA_MESSAGE_MALFORMED')) return { refused: 'malformed', error: error.message };
  throw error;
}

/**
 * Replay protection of a signed destination: the ids this group handled, remembered as long as a signed
 * message is accepted at all (maxAge, plus clock skew); after that its age refuses it. Recorded after
 * the ack, so a message whose handling failed or was cut short by a crash is not taken for a replay
 * when the broker delivers it again.
 */
function replayGuard(options: ConsumerOptions, security: DestinationSecurity): { store: DedupStore; ttlMs: number } | undefined {
  const sign = security.policy.sign;
  if (!sign) return undefined;
  return { store: options.catalog.security.replays, ttlMs: sign.maxAgeMs + CLOCK_SKEW_MS };
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
