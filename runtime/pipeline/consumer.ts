import type { DeadLetterInfo, Delivery, DestinationRef } from '../brokers/adapter.js';
import type { RetryPolicy } from '../definitions/index.js';
import { decode, type Envelope } from '../envelope/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { DedupStore } from '../idempotency/dedup.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { DestinationSecurity } from '../security/index.js';
import type { Logger } from '../observability/logger.js';
import { Deadlines } from './deadlines.js';
import { retryDelay, shouldRetry } from './retry.js';

/** What a handler gets besides the message. */
export interface AttemptContext {
  readonly attempt: number;
  /** Aborted when the attempt times out or the consumer stops. */
  readonly signal: AbortSignal;
}

/**
 * What a handler returns when it has taken the message but commits it later with others (the stream
 * runner's group commit), on a broker with `capabilities.lateAck`: the pipeline acknowledges once
 * `committed` resolves. When it rejects, nothing is acknowledged: the handler's owner then restarts its
 * subscription, so the broker delivers the message again.
 */
export interface LateSettlement {
  readonly [LATE]: true;
  readonly committed: Promise<void>;
}

const LATE = Symbol('edaflow.lateSettlement');

/** A handler's answer that it will commit the message later (see LateSettlement). */
export function lateSettlement(committed: Promise<void>): LateSettlement {
  return { [LATE]: true, committed };
}

/** Handlers return nothing, or a LateSettlement: whatever else a function returns means nothing. */
function isLateSettlement(value: unknown): value is LateSettlement {
  return typeof value === 'object' && value !== null && LATE in value;
}

export type MessageHandler = (envelope: Envelope, context: AttemptContext) => Promise<void | LateSettlement>;

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
    let late: unknown;
    try {
      late = await withTimeout(deadlines, options.timeoutMs, delivery.attempt, (context) => options.handle(latest.envelope, context));
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
    const settle = async (): Promise<void> => {
      if (options.dedup) await options.dedup.store.add(dedupKey, options.dedup.ttlMs);
      await delivery.ack();
      if (replayKey) await replays!.store.add(replayKey, replays!.ttlMs);
    };
    if (isLateSettlement(late)) {
      late.committed.then(settle).catch((error: unknown) => log.debug({ id: envelope.id, err: error }, 'not committed: left unacknowledged, to be delivered again'));
      return 'handled';
    }
    await settle();
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
 * message is accepted at all (DestinationSecurity.replayTtlMs); after that its age refuses it. Recorded after
 * the ack, so a message whose handling failed or was cut short by a crash is not taken for a replay
 * when the broker delivers it again.
 */
function replayGuard(options: ConsumerOptions, security: DestinationSecurity): { store: DedupStore; ttlMs: number } | undefined {
  const ttlMs = security.replayTtlMs;
  return ttlMs === undefined ? undefined : { store: options.catalog.security.replays, ttlMs };
}

/**
 * Runs `work` with an attempt context whose AbortSignal fires after `timeoutMs`; rejects with
 * EDA_HANDLER_TIMEOUT then. The AbortController is made only when a handler reads `signal`: most never
 * do, and one costs a few microseconds a message.
 */
function withTimeout<T>(deadlines: Deadlines, timeoutMs: number, attempt: number, work: (context: AttemptContext) => Promise<T>): Promise<T> {
  let controller: AbortController | undefined;
  let timeout: EdaflowError | undefined;
  const context: AttemptContext = {
    attempt,
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (timeout) controller.abort(timeout);
      }
      return controller.signal;
    },
  };
  return new Promise<T>((resolve, reject) => {
    const cancel = deadlines.start(() => {
      timeout = new EdaflowError('EDA_HANDLER_TIMEOUT', `handler did not finish within ${timeoutMs} ms`);
      controller?.abort(timeout);
      reject(timeout);
    });
    const fail = (error: unknown): void => {
      cancel();
      reject(error);
    };
    try {
      work(context).then((value) => {
        cancel();
        resolve(value);
      }, (error: unknown) => fail(error ?? new Error('handler rejected without a reason')));
    } catch (error) {
      fail(error ?? new Error('handler threw without a reason'));
    }
  });
}
