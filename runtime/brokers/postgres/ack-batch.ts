import type { Queryable } from '../../store/database.js';
import { ackQueuedMany } from './settle-queue.js';
import { INSERT_CHUNK } from './wire.js';

/** Tries of one DELETE before its messages are left to come back after their lease; the delay grows by this each try. */
const ACK_TRIES = 5;
const RETRY_DELAY_MS = 100;

/**
 * Queue acks, written a moment later and together (as Kafka commits offsets): one DELETE for all the
 * acks that arrived while the previous one ran, instead of a statement, a round trip and the handler's
 * lane held for it per message. An acked message stays leased until its DELETE commits, so a crash (or
 * a failed DELETE) in between only redelivers it once the lease runs out: at least once, never lost.
 * `flushed()` waits for every ack so far to be written (a graceful stop awaits it).
 */
export class AckBatch {
  private pending: { id: string; attempt: number }[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly db: Queryable, private readonly onError: (error: unknown, what: string) => void) {}

  ack(id: string, attempt: number): void {
    this.pending.push({ id, attempt });
    this.flushing ??= this.flush();
  }

  async flushed(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // Let the acks of the deliveries finishing in this turn of the event loop join the first DELETE.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      await this.writePending();
    } finally {
      // An ack that came in as the last DELETE finished starts the next round itself.
      this.flushing = this.pending.length ? this.flush() : undefined;
    }
  }

  private async writePending(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, INSERT_CHUNK);
      // Settling a message this consumer no longer holds (its lease ran out) changes nothing.
      for (let attempt = 1; ; attempt++) {
        try {
          await ackQueuedMany(this.db, batch);
          break;
        } catch (error) {
          // A connection cut mid-write: try again shortly (the pool reconnects), rather than leave the
          // messages to come back after their lease; after a few tries they do come back, as promised.
          if (attempt === ACK_TRIES) {
            this.onError(error, `acknowledging ${batch.length} messages (they come back after their lease)`);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
        }
      }
    }
  }
}
