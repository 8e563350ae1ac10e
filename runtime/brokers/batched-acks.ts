/** Tries of one write before its messages are left to come back after their lease; the delay grows by this each try. */
const TRIES = 5;
const RETRY_DELAY_MS = 100;

export interface BatchedAcksOptions<T> {
  /** Settles a chunk of acks on the broker (a DELETE, a DeleteMessageBatch). */
  readonly write: (chunk: T[]) => Promise<void>;
  /** Acks per write: the broker's limit (SQS: 10) or a statement's sensible size. */
  readonly chunk: number;
  /** Chunks written at once. */
  readonly parallel?: number;
  /** Told when a chunk failed every try (its messages come back after their lease). */
  readonly onError: (error: unknown, what: string) => void;
}

/**
 * Acks written a moment later and together (as Kafka commits offsets): the acks that arrive while a
 * write runs go in the next, instead of a statement or request, a round trip and the handler's lane
 * held for it per message. An acked message stays leased until its write lands, so a crash (or a write
 * that fails every try) in between only redelivers it once the lease runs out: at least once, never
 * lost. `flushed()` waits for every ack so far to be written (a graceful stop awaits it).
 */
export class BatchedAcks<T> {
  private pending: T[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: BatchedAcksOptions<T>) {}

  ack(item: T): void {
    this.pending.push(item);
    this.flushing ??= this.flush();
  }

  async flushed(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // Let the acks of the deliveries finishing in this turn of the event loop join the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.pending.length) {
        const chunks: T[][] = [];
        for (let n = 0; n < (this.options.parallel ?? 1) && this.pending.length; n++) chunks.push(this.pending.splice(0, this.options.chunk));
        await Promise.all(chunks.map((chunk) => this.writeWithRetries(chunk)));
      }
    } finally {
      // An ack that came in as the last write finished starts the next round itself.
      this.flushing = this.pending.length ? this.flush() : undefined;
    }
  }

  private async writeWithRetries(chunk: T[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.write(chunk);
      } catch (error) {
        // A connection cut mid-write: try again shortly (the client reconnects), rather than leave the
        // messages to come back after their lease; after a few tries they do come back, as promised.
        if (attempt === TRIES) return this.options.onError(error, `acknowledging ${chunk.length} messages (they come back after their lease)`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
      }
    }
  }
}
