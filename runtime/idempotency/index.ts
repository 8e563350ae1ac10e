import type { CacheStore } from '../definitions/index.js';
import { MemoryDedupStore, type DedupStore } from './dedup.js';
import { RedisIdempotency } from './redis.js';
import { MemoryIdempotencyService, type IdempotencyService } from './service.js';

export type { DedupStore } from './dedup.js';
export type { IdempotencyService, IdempotencyOptions, IdempotentResult } from './service.js';

/** The `cache` store: consumer dedup and the idempotency service, in Redis or in process memory. */
export interface Cache {
  readonly dedup: DedupStore;
  readonly idempotency: IdempotencyService;
  close(): Promise<void>;
}

export function openCache(store: CacheStore): Cache {
  if (store.type === 'redis') {
    const redis = new RedisIdempotency(store.url, store.keyPrefix ?? 'edaflow:');
    return { dedup: redis, idempotency: redis, close: () => redis.close() };
  }
  const dedup = new MemoryDedupStore();
  const idempotency = new MemoryIdempotencyService();
  return { dedup, idempotency, close: async () => void (await Promise.all([dedup.close(), idempotency.close()])) };
}
