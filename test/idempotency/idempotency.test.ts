import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisIdempotency } from '../../runtime/idempotency/redis.js';
import { MemoryIdempotencyService, type IdempotencyService } from '../../runtime/idempotency/service.js';
import { ensureServers } from '../servers/servers.mjs';

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `edaflow-test-${randomUUID()}:`;

const services: { name: string; create: () => IdempotencyService }[] = [
  { name: 'memory', create: () => new MemoryIdempotencyService() },
  { name: 'redis', create: () => new RedisIdempotency(REDIS_URL, prefix) },
];

beforeAll(async () => {
  await ensureServers(['redis']);
}, 60_000);

describe.each(services)('idempotency service: $name', ({ create }) => {
  let service: IdempotencyService;
  beforeAll(() => {
    service = create();
  });
  afterAll(async () => service.close());

  it('runs the work once for concurrent callers, who all get the first result', async () => {
    const key = randomUUID();
    let runs = 0;
    const work = async (): Promise<{ charged: number }> => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { charged: 42 };
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => service.run(key, work, { ttlMs: 60_000 })));
    expect(runs).toBe(1);
    expect(results.map((r) => r.result)).toEqual(Array(10).fill({ charged: 42 }));
    expect(results.filter((r) => !r.cached)).toHaveLength(1);
    const later = await service.run(key, work, { ttlMs: 60_000 });
    expect(later).toEqual({ result: { charged: 42 }, cached: true });
    expect(runs).toBe(1);
  });

  it('caches nothing when the work fails, so a retry runs it again', async () => {
    const key = randomUUID();
    await expect(service.run(key, async () => Promise.reject(new Error('gateway down')), { ttlMs: 60_000 })).rejects.toThrow('gateway down');
    const retried = await service.run(key, async () => 'ok', { ttlMs: 60_000 });
    expect(retried).toEqual({ result: 'ok', cached: false });
  });

  it('forgets a result after its TTL', async () => {
    const key = randomUUID();
    await service.run(key, async () => 1, { ttlMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await service.run(key, async () => 2, { ttlMs: 100 })).toEqual({ result: 2, cached: false });
  });

  it('hands out a larger fencing token to every new holder', async () => {
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) await service.run(randomUUID(), async (fence) => tokens.push(fence), { ttlMs: 1_000 });
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(3);
  });
});

describe('redis idempotency locks', () => {
  it('lets a waiter take over when the holder died', async () => {
    const redis = new Redis(REDIS_URL);
    const service = new RedisIdempotency(REDIS_URL, prefix);
    try {
      const key = randomUUID();
      const lockKey = `${prefix}idem:${key}:lock`;
      // A holder that crashed: its lock is there, with a short expiry, and nobody renews it.
      await redis.set(lockKey, 'crashed-holder', 'PX', 300);
      const started = Date.now();
      const outcome = await service.run(key, async () => 'second', { ttlMs: 60_000, waitMs: 5_000 });
      expect(outcome).toEqual({ result: 'second', cached: false });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await service.close();
      await redis.quit();
    }
  });

  it('does not let a holder whose lock was taken over store its result or free the new holder\'s lock', async () => {
    const redis = new Redis(REDIS_URL);
    const service = new RedisIdempotency(REDIS_URL, prefix);
    try {
      const key = randomUUID();
      const lockKey = `${prefix}idem:${key}:lock`;
      let finish: () => void = () => undefined;
      const stale = service.run(key, () => new Promise<string>((resolve) => (finish = () => resolve('stale'))), { ttlMs: 60_000, lockMs: 60_000 });
      while ((await redis.get(lockKey)) === null) await new Promise((resolve) => setTimeout(resolve, 10));
      // As if the lock had expired and another caller had taken it.
      await redis.set(lockKey, 'new-holder', 'PX', 10_000);
      finish();
      expect(await stale).toEqual({ result: 'stale', cached: false });
      expect(await redis.get(lockKey)).toBe('new-holder');
      expect(await redis.get(`${prefix}idem:${key}:result`)).toBeNull();
    } finally {
      await service.close();
      await redis.quit();
    }
  });

  it('renews the lock while long work runs, so nobody else starts it', async () => {
    const service = new RedisIdempotency(REDIS_URL, prefix);
    try {
      const key = randomUUID();
      let runs = 0;
      const slow = async (): Promise<string> => {
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 900));
        return 'done';
      };
      const [first, second] = await Promise.all([
        service.run(key, slow, { ttlMs: 60_000, lockMs: 300 }),
        new Promise((resolve) => setTimeout(resolve, 100)).then(() => service.run(key, slow, { ttlMs: 60_000, lockMs: 300 })),
      ]);
      expect(runs).toBe(1);
      expect(first).toEqual({ result: 'done', cached: false });
      expect(second).toEqual({ result: 'done', cached: true });
    } finally {
      await service.close();
    }
  });

  it('remembers consumer dedup keys with their TTL', async () => {
    const store = new RedisIdempotency(REDIS_URL, prefix);
    try {
      const key = `group:${randomUUID()}`;
      expect(await store.has(key)).toBe(false);
      await store.add(key, 200);
      expect(await store.has(key)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(await store.has(key)).toBe(false);
    } finally {
      await store.close();
    }
  });
});
