import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BrokerAdapter, DestinationRef } from '../../runtime/brokers/adapter.js';
import { ensureServers } from '../servers/servers.mjs';
import { ADAPTERS } from './adapters.js';
import { consume, eventually, NO_RETRY, ping, RUN, uniqueName } from './harness.js';

/** The adapter module file that registers `name`: the child process imports it directly. */
function moduleOf(name: string): string {
  const dir = join(process.cwd(), 'test/conformance/adapters');
  const file = readdirSync(dir).find((candidate) => readFileSync(join(dir, candidate), 'utf8').includes(`'${name}'`));
  if (!file) throw new Error(`no adapter module registers ${name}`);
  return join(dir, file);
}

/** `step` within `ms`, or a failure naming it: a hang says where instead of running into the test's timeout. */
async function within<T>(ms: number, step: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${step} did not finish within ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The crash case of the conformance suite: a consumer process killed with SIGKILL while it holds
 * unacknowledged messages loses none of them; they are redelivered to the next consumer of its group.
 */
describe.each(ADAPTERS)('broker conformance, crash: $name', (underTest) => {
  beforeAll(async () => {
    if (underTest.servers.length) await ensureServers([...underTest.servers]);
  }, 180_000);

  it('redelivers what a consumer killed with SIGKILL held unacknowledged: nothing is lost', async () => {
    const share = `${RUN}_${underTest.name.replace(/\W+/g, '_')}`;
    let adapter: BrokerAdapter = await within(60_000, 'creating the adapter', underTest.create({ share, keep: true }));
    await within(60_000, 'connecting', adapter.connect());
    if (!adapter.capabilities.durable) {
      // Declared, not skipped: an in-process broker loses everything with its process, by design.
      expect(adapter.capabilities.durable).toBe(false);
      await adapter.close();
      return;
    }
    const destination: DestinationRef = { kind: 'queue', name: uniqueName('crash') };
    await within(60_000, 'provisioning', adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries: 10 }], groups: [{ destination, group: 'workers', deadLetter: `${destination.name}.dlq`, retry: NO_RETRY }] }));
    await within(60_000, 'publishing', adapter.publish(destination, Array.from({ length: 6 }, (_, n) => ping(n))));
    // The embedded database is opened by one process at a time: hand it over to the child.
    if (underTest.exclusive) await adapter.close();
    const record = join(mkdtempSync(join(tmpdir(), 'edaflow-crash-')), 'received');
    const lines = (): string[] => (existsSync(record) ? readFileSync(record, 'utf8').trim().split('\n') : []);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/conformance/consumer-process.ts', moduleOf(underTest.name), underTest.name, share, destination.name, record], { stdio: ['ignore', 'ignore', 'inherit'] });
    let exitedEarly: string | undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
      exitedEarly ??= `exited by itself (code ${code}, signal ${signal})`;
      resolve();
    }));
    try {
      await eventually(() => exitedEarly !== undefined || lines().some((line) => line !== 'subscribed'), 120_000, () => `the consumer process received nothing (${lines().join(',')})`);
      if (exitedEarly) throw new Error(`the consumer process ${exitedEarly} before it was killed; it had started ${lines().join(',') || 'nothing'}`);
    } finally {
      exitedEarly ??= 'killed';
      child.kill('SIGKILL');
      await within(30_000, 'the killed consumer process exiting', exited);
    }
    if (underTest.exclusive) {
      adapter = await within(60_000, 'creating the adapter again', underTest.create({ share }));
      await within(60_000, 'connecting again', adapter.connect());
    }
    try {
      const survivor = await within(60_000, 'subscribing the survivor', consume(adapter, destination, 'workers'));
      const handled = (): number[] => [...new Set(survivor.received.map((r) => (r.envelope.data as { n: number }).n))].sort((a, b) => a - b);
      await eventually(() => handled().length === 6, 120_000, () => `handled after the crash: ${handled().join(',')}; the killed process had started ${lines().join(',')}`);
      expect(handled()).toEqual([0, 1, 2, 3, 4, 5]);
      const heldByTheDead = lines().filter((line) => line !== 'subscribed').map(Number);
      const redelivered = survivor.received.filter((r) => heldByTheDead.includes((r.envelope.data as { n: number }).n));
      expect(redelivered.length).toBeGreaterThan(0);
      await within(60_000, 'stopping the survivor', survivor.subscription.stop());
    } finally {
      await within(60_000, 'closing the adapter', adapter.close());
    }
  }, 300_000);
});
