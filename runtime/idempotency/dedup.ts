/**
 * Remembers which messages a consumer group has processed, so a redelivered message changes nothing
 * twice (for handlers whose effects live outside the database; transactional consumers use an inbox
 * row instead). Keys expire after the idempotency TTL.
 */
export interface DedupStore {
  has(key: string): Promise<boolean>;
  add(key: string, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}

/** In-process dedup for the embedded default and tests: forgotten on restart. */
export class MemoryDedupStore implements DedupStore {
  private readonly expiry = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async has(key: string): Promise<boolean> {
    const until = this.expiry.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.expiry.delete(key);
    return false;
  }

  async add(key: string, ttlMs: number): Promise<void> {
    this.expiry.set(key, this.now() + ttlMs);
    if (this.expiry.size % 10_000 === 0) this.sweep();
  }

  async close(): Promise<void> {
    this.expiry.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, until] of this.expiry) if (until <= now) this.expiry.delete(key);
  }
}
