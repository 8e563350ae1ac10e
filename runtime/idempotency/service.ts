import { EdaflowError } from '../errors/index.js';

export interface IdempotencyOptions {
  /** How long a completed key's result is remembered. */
  readonly ttlMs: number;
  /** How long the lock holds without renewal; renewed while the work runs, so a crashed holder frees it. */
  readonly lockMs?: number;
  /** How long a concurrent caller waits for the first caller's result before giving up. */
  readonly waitMs?: number;
}

export interface IdempotentResult<T> {
  readonly result: T;
  /** True when the result is the first caller's, not this caller's own work. */
  readonly cached: boolean;
}

/**
 * Runs work at most once per key (the seed's Redis pattern, done right): the first caller takes a lock
 * with a fencing token, runs the work and caches its result for the TTL; concurrent callers wait for
 * that result; a failed attempt caches nothing, so a retry runs the work again. The fencing token grows
 * with every lock taken: pass it to external systems so they can refuse a stale holder's late write.
 */
export interface IdempotencyService {
  run<T>(key: string, work: (fencingToken: number) => Promise<T>, options: IdempotencyOptions): Promise<IdempotentResult<T>>;
  close(): Promise<void>;
}

export const DEFAULT_LOCK_MS = 30_000;
export const DEFAULT_WAIT_MS = 60_000;

export function waitTimeout(key: string, waitMs: number): EdaflowError {
  return new EdaflowError('EDA_IDEMPOTENCY_BUSY', `another caller has held idempotency key "${key}" for more than ${waitMs} ms`);
}

/** The in-process service of the embedded default: the same contract, forgotten on restart. */
export class MemoryIdempotencyService implements IdempotencyService {
  private readonly results = new Map<string, { value: unknown; until: number }>();
  private readonly running = new Map<string, Promise<unknown>>();
  private fence = 0;

  async run<T>(key: string, work: (fencingToken: number) => Promise<T>, options: IdempotencyOptions): Promise<IdempotentResult<T>> {
    for (;;) {
      const stored = this.results.get(key);
      if (stored && stored.until > Date.now()) return { result: stored.value as T, cached: true };
      const inFlight = this.running.get(key);
      if (!inFlight) break;
      // Wait for the holder; if it failed, loop and try to take the key ourselves.
      await inFlight.catch(() => undefined);
    }
    const attempt = work(++this.fence);
    this.running.set(key, attempt);
    try {
      const result = await attempt;
      this.results.set(key, { value: result, until: Date.now() + options.ttlMs });
      return { result, cached: false };
    } finally {
      this.running.delete(key);
    }
  }

  async close(): Promise<void> {
    this.results.clear();
  }
}
