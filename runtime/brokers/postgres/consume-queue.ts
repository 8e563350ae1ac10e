import type { Database } from '../../store/database.js';
import type { DeadLetterInfo, Delivery, DestinationRef } from '../adapter.js';
import { deadLetterHeaders } from '../dead-letter.js';
import type { KeyedLanes } from '../keyed-lanes.js';
import { claimQueue, renewLeases, type QueueRow } from './claim-queue.js';
import type { QueueLimits } from './queue-settings.js';
import type { BatchedAcks } from '../batched-acks.js';
import { deadLetterQueued, releaseQueued, retryQueued } from './settle-queue.js';
import type { Signal } from '../../core/signal.js';

export interface LoopContext {
  readonly db: Database;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly lanes: KeyedLanes;
  /** Deliveries this loop may hold unsettled (prefetch); the lanes run `concurrency` of them at once. */
  readonly window: number;
  readonly signal: Signal;
  readonly running: () => boolean;
  readonly deliver: (delivery: Delivery) => Promise<void>;
  readonly deadLetter: string | null;
  /** The subscribed destination and group: the origin in dead-letter metadata. */
  readonly origin: DestinationRef;
  readonly group: string;
  readonly onError: (error: unknown, what: string) => void;
  /** Acks of this subscription, written a moment later and together. */
  readonly acks: BatchedAcks<{ readonly id: string; readonly attempt: number }>;
}

/**
 * Competing consumers on a queue: claims at most `window` (prefetch) messages (a claimed message is
 * leased, so claiming more would hide it from other consumers), renews the leases of those in
 * flight, and waits for NOTIFY, a freed slot, a retry timer or the poll interval.
 */
export async function consumeQueue(queue: string, limits: QueueLimits, context: LoopContext): Promise<void> {
  const inFlight = new Set<string>();
  const renewal = setInterval(() => {
    renewLeases(context.db, [...inFlight], context.leaseMs).catch((error: unknown) => context.onError(error, `renewing leases on ${queue}`));
  }, Math.max(50, context.leaseMs / 3));
  renewal.unref();
  try {
    while (context.running()) {
      const free = context.window - inFlight.size;
      context.signal.reset();
      // Claim in batches (half the window at least) rather than a row per settled delivery.
      const rows = free > 0 && (free >= Math.ceil(context.window / 2) || !inFlight.size) ? await claimQueue(context.db, queue, free, context.leaseMs).catch((error: unknown) => failed(context, error, queue)) : [];
      if (!rows.length) {
        await context.signal.wait(context.pollMs);
        continue;
      }
      for (const row of rows) {
        if (!context.running()) {
          // Claimed while the consumer was asked to stop: back to the queue at once, not after the lease.
          await releaseQueued(context.db, row.id, row.attempt).catch((error: unknown) => context.onError(error, 'releasing'));
          continue;
        }
        const refusal = refuse(row, limits);
        if (refusal) {
          await brokerDeadLetter(row, refusal, context);
          continue;
        }
        inFlight.add(row.id);
        await context.lanes.submit(undefined, async () => {
          try {
            await context.deliver(queueDelivery(row, context));
          } finally {
            inFlight.delete(row.id);
            context.signal.wake();
          }
        });
      }
    }
  } finally {
    clearInterval(renewal);
  }
}

/**
 * What the broker itself dead-letters instead of delivering: a message past its TTL, or one delivered
 * `maxDeliveries` times already without being settled (its consumers keep dying on it: a poison pill).
 */
function refuse(row: QueueRow, limits: QueueLimits): Pick<DeadLetterInfo, 'reason' | 'error'> | undefined {
  if (limits.messageTtlMs !== null && row.ageMs > limits.messageTtlMs) return { reason: 'expired', error: `not handled within its time to live of ${limits.messageTtlMs} ms` };
  if (limits.maxDeliveries !== null && row.attempt > limits.maxDeliveries) return { reason: 'failed', error: `delivered ${limits.maxDeliveries} times (maxDeliveries) without being settled` };
  return undefined;
}

async function brokerDeadLetter(row: QueueRow, refusal: Pick<DeadLetterInfo, 'reason' | 'error'>, context: LoopContext): Promise<void> {
  const info: DeadLetterInfo = { ...refusal, attempts: row.attempt - 1, origin: context.origin, group: context.group, failedAt: new Date().toISOString() };
  await queueDelivery(row, context).deadLetter(info).catch((error: unknown) => context.onError(error, 'dead-lettering'));
}

function failed(context: LoopContext, error: unknown, queue: string): QueueRow[] {
  context.onError(error, `claiming from ${queue}`);
  return [];
}

/** Settling a message this consumer no longer holds (its lease ran out) changes nothing. */
function queueDelivery(row: QueueRow, context: LoopContext): Delivery {
  return {
    headers: row.headers,
    body: row.body,
    attempt: row.attempt,
    ...(row.key !== undefined ? { key: row.key } : {}),
    ack: async () => context.acks.ack({ id: row.id, attempt: row.attempt }),
    retry: async (delayMs) => {
      await retryQueued(context.db, row.id, row.attempt, delayMs);
      // Another process sees it on its next poll; this one comes back for it on time.
      setTimeout(() => context.signal.wake(), delayMs).unref();
    },
    deadLetter: async (info) => {
      const moved = { headers: { ...row.headers, ...deadLetterHeaders(info) }, body: row.body, ...(row.key !== undefined ? { key: row.key } : {}) };
      await deadLetterQueued(context.db, row.id, row.attempt, context.deadLetter, moved);
    },
  };
}
