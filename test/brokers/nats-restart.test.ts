import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { DestinationRef } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { NatsBroker } from '../../runtime/brokers/nats.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { consume, eventually, NO_RETRY, ping, sleep, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

/**
 * Restarts the machine's NATS server (kill -9, then its service command) while a stream of messages is
 * published and consumed: the client reconnects, the publisher re-sends what was not acknowledged, the
 * durable consumer resumes, and every published message is consumed at least once.
 */
const START = ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/nats-server', '--', '-a', '127.0.0.1', '-p', '4222', '-js', '-sd', '/var/lib/nats-server', '-l', '/var/log/nats-server.log'];

function natsPids(): number[] {
  try {
    return execFileSync('pgrep', ['-x', 'nats-server'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function killNats(): Promise<void> {
  const pids = natsPids();
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await eventually(() => natsPids().length === 0, 10_000, () => `nats-server still running: ${natsPids().join(',')}`);
}

async function startNats(): Promise<void> {
  if (natsPids().length === 0) execFileSync('start-stop-daemon', START);
  await ensureServers(['nats']);
}

describe('nats: a server restart mid-stream', () => {
  const adapter = new NatsBroker('nats', { type: 'nats', servers: ['nats://127.0.0.1:4222'] }, createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' }));

  afterAll(async () => {
    await startNats();
    await adapter.close();
  }, 60_000);

  it('loses no published message', async () => {
    await ensureServers(['nats']);
    await adapter.connect();
    const destination: DestinationRef = { kind: 'topic', name: uniqueName('restart') };
    await adapter.provision({ topics: [{ name: destination.name, partitions: 1 }], queues: [], groups: [{ destination, group: 'survivor', deadLetter: topicGroupDeadLetter(destination.name, 'survivor'), retry: NO_RETRY }] });
    const consumer = await consume(adapter, destination, 'survivor', { concurrency: 4, prefetch: 20 });
    const total = 300;
    const published: number[] = [];
    let publishFailures = 0;
    let restart: Promise<void> | undefined;
    try {
      for (let n = 0; n < total; n++) {
        // Down for 2 s while the publisher keeps going (its publishes wait and re-send meanwhile).
        if (n === 100) restart = killNats().then(() => sleep(2_000)).then(startNats);
        // The adapter re-sends through the outage itself; this loop only outlasts a longer one.
        for (;;) {
          try {
            await adapter.publish(destination, [ping(n, { key: `k${n % 5}` })]);
            break;
          } catch {
            publishFailures++;
            await sleep(500);
          }
        }
        published.push(n);
        await sleep(5);
      }
      await restart;
      // Acks lost in the outage come back after ack_wait (30 s): allow for one round.
      const seen = (): Set<number> => new Set(consumer.received.map((r) => (r.envelope.data as { n: number }).n));
      await eventually(() => seen().size === total, 75_000, () => `consumed ${seen().size} of ${total}; missing ${published.filter((n) => !seen().has(n)).slice(0, 20).join(',')}`);
      expect([...seen()].sort((a, b) => a - b)).toEqual(published);
      expect(publishFailures).toBeLessThan(5);
    } finally {
      await startNats();
      await consumer.subscription.stop();
    }
  }, 150_000);
});
