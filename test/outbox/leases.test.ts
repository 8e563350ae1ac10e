import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../runtime/store/database.js';
import { acquireLease } from '../../runtime/store/leases.js';
import { ensureServers } from '../servers/servers.mjs';
import { testDatabase } from '../eventstore/setup.js';

describe('leases (PostgreSQL)', () => {
  const db = testDatabase('postgres');
  let database: Database;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    database = await db.open();
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    await db.destroy();
  });

  it('has one holder at a time, renewed by it, taken over once it stops renewing, free at once when released', async () => {
    const first = await acquireLease(database, 'work', 'a', 600);
    expect(first?.held()).toBe(true);
    expect(await acquireLease(database, 'work', 'b', 600)).toBeUndefined();
    expect(await acquireLease(database, 'other', 'b', 600)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await first!.renew()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Renewed 400 ms ago for 600 ms: still a's.
    expect(await acquireLease(database, 'work', 'b', 600)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(first!.held()).toBe(false);
    const second = await acquireLease(database, 'work', 'b', 10_000);
    expect(second?.held()).toBe(true);
    expect(await first!.renew()).toBe(false);
    expect(first!.held()).toBe(false);
    await second!.release();
    expect(second!.held()).toBe(false);
    expect((await acquireLease(database, 'work', 'c', 10_000))?.owner).toBe('c');
  });

  it('lets exactly one of many concurrent contenders take a free lease', async () => {
    const leases = await Promise.all(Array.from({ length: 8 }, (_, n) => acquireLease(database, 'contended', `owner-${n}`, 5_000)));
    expect(leases.filter((lease) => lease !== undefined)).toHaveLength(1);
  });
});
