import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { DedupStore } from './dedup.js';
import { DEFAULT_LOCK_MS, DEFAULT_WAIT_MS, waitTimeout, type IdempotencyOptions, type IdempotencyService, type IdempotentResult } from './service.js';

/** Deletes the lock only when it still holds our token: a slow holder never frees someone else's lock. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Extends the lock only when it is still ours. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Stores the result only while we still hold the lock, then frees it: a holder whose lock expired cannot overwrite. */
const COMPLETE = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3]); return redis.call('del', KEYS[1]) else return 0 end`;

const POLL_MS = 50;

/**
 * Idempotency and consumer dedup in Redis: `SET NX PX` locks with a fencing token from `INCR`, released
 * and completed by scripts that check the token, results cached with a TTL.
 */
export class RedisIdempotency implements IdempotencyService, DedupStore {
  private readonly redis: Redis;

  constructor(url: string, private readonly prefix = 'edaflow:') {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  }

  async run<T>(key: string, work: (fencingToken: number) => Promise<T>, options: IdempotencyOptions): Promise<IdempotentResult<T>> {
    const lockKey = `${this.prefix}idem:${key}:lock`;
    const resultKey = `${this.prefix}idem:${key}:result`;
    const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
    const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS);
    for (;;) {
      const stored = await this.redis.get(resultKey);
      if (stored !== null) return { result: JSON.parse(stored) as T, cached: true };
      const token = randomUUID();
      if ((await this.redis.set(lockKey, token, 'PX', lockMs, 'NX')) === 'OK') {
        // Issued after the lock is taken, so each holder's token is larger than every earlier holder's.
        const fence = await this.redis.incr(`${this.prefix}idem:fence`);
        return { result: await this.holdAndRun(lockKey, resultKey, token, fence, lockMs, options.ttlMs, work), cached: false };
      }
      if (Date.now() > deadline) throw waitTimeout(key, options.waitMs ?? DEFAULT_WAIT_MS);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  private async holdAndRun<T>(lockKey: string, resultKey: string, token: string, fence: number, lockMs: number, ttlMs: number, work: (fence: number) => Promise<T>): Promise<T> {
    const renewal = setInterval(() => void this.redis.eval(RENEW, 1, lockKey, token, lockMs).catch(() => undefined), Math.max(10, Math.floor(lockMs / 3)));
    try {
      const result = await work(fence);
      await this.redis.eval(COMPLETE, 2, lockKey, resultKey, token, JSON.stringify(result ?? null), ttlMs);
      return result;
    } catch (error) {
      await this.redis.eval(RELEASE, 1, lockKey, token);
      throw error;
    } finally {
      clearInterval(renewal);
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}dedup:${key}`)) === 1;
  }

  async add(key: string, ttlMs: number): Promise<void> {
    await this.redis.set(`${this.prefix}dedup:${key}`, '1', 'PX', ttlMs);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
