import type { Consumer } from 'kafkajs';
import type { Logger } from '../../observability/logger.js';

/**
 * Offset commits of one subscription, coalesced. A Kafka broker answers one connection's requests in
 * order, and an OffsetCommit takes a few milliseconds, so awaiting a commit per message caps a consumer
 * at ~150 messages/s however many partitions it owns. Instead ack records the partition's next offset
 * and returns; one commit at a time carries the latest offset of every partition. A message is still
 * committed only after it was settled, so a crash before the commit redelivers it (at least once); a
 * failed commit is retried with the next one, and stop() flushes before the member leaves its group.
 */
export class OffsetCommitter {
  private readonly pending = new Map<number, string>();
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly topic: string, private readonly consumer: () => Consumer | undefined, private readonly logger: Logger) {}

  /** `next` is the offset after the settled message: where the group resumes. */
  add(partition: number, next: bigint): void {
    if (this.closed) return;
    this.pending.set(partition, next.toString());
    void this.flush();
  }

  /** Resolves once every offset added so far was committed (or failed and was kept for later). */
  flush(): Promise<void> {
    this.chain = this.chain.then(() => this.commitPending());
    return this.chain;
  }

  /** After the member's last flush: later offsets are dropped (their messages are delivered again), failed ones no longer retried. */
  close(): void {
    this.closed = true;
    this.pending.clear();
  }

  private async commitPending(): Promise<void> {
    const consumer = this.consumer();
    if (this.closed || !this.pending.size || !consumer) return;
    const offsets = [...this.pending].map(([partition, offset]) => ({ topic: this.topic, partition, offset }));
    this.pending.clear();
    try {
      await consumer.commitOffsets(offsets);
    } catch (error) {
      for (const { partition, offset } of offsets) if (!this.pending.has(partition)) this.pending.set(partition, offset);
      this.logger.warn({ topic: this.topic, error: (error as Error).message }, 'offset commit failed; retrying with the next one');
      setTimeout(() => void this.flush(), 1_000).unref();
    }
  }
}
