import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerAdapter, DestinationRef, GroupSpec } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { ensureServers } from '../servers/servers.mjs';
import { ADAPTERS } from '../conformance/adapters.js';
import { consume, eventually, NO_RETRY, ping, uniqueName } from '../conformance/harness.js';

/**
 * `BrokerAdapter.lag`, against every broker's real server: a group that is provisioned but not consuming
 * lags by what was published to it, and by nothing once it has consumed and settled it all.
 */
describe.each(ADAPTERS)('consumer lag: $name', (underTest) => {
  let adapter: BrokerAdapter;

  beforeAll(async () => {
    if (underTest.servers.length) await ensureServers([...underTest.servers]);
    adapter = await underTest.create();
    await adapter.connect();
  }, 180_000);

  afterAll(async () => {
    await adapter?.close();
  });

  /** A topic with the group where the broker has topics, else a queue (SQS). */
  async function provisioned(group: string): Promise<GroupSpec> {
    if (adapter.capabilities.topics) {
      const destination: DestinationRef = { kind: 'topic', name: uniqueName('lag') };
      const spec: GroupSpec = { destination, group, deadLetter: topicGroupDeadLetter(destination.name, group), retry: NO_RETRY };
      await adapter.provision({ topics: [{ name: destination.name, partitions: 2 }], queues: [], groups: [spec] });
      return spec;
    }
    const destination: DestinationRef = { kind: 'queue', name: uniqueName('lag') };
    const spec: GroupSpec = { destination, group, deadLetter: `${destination.name}.dlq`, retry: NO_RETRY };
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: spec.deadLetter, maxDeliveries: 5 }], groups: [spec] });
    return spec;
  }

  it('counts what a provisioned group has not consumed, and nothing once it has', async () => {
    const group = await provisioned('reader');
    expect(await adapter.lag(group)).toBe(0);
    await adapter.publish(group.destination, Array.from({ length: 5 }, (_, n) => ping(n, { key: `k${n % 3}` })));
    await eventually(async () => (await adapter.lag(group)) === 5, 15_000, () => 'lag never reached 5');
    const consumer = await consume(adapter, group.destination, group.group, { deadLetter: group.deadLetter! });
    try {
      await eventually(() => consumer.received.length >= 5, 30_000, () => `received ${consumer.received.length} of 5`);
      // Settled messages leave the lag once the broker has the acknowledgement (Kafka commits a moment later).
      await eventually(async () => (await adapter.lag(group)) === 0, 15_000, () => 'lag never went back to 0');
    } finally {
      await consumer.subscription.stop();
    }
    await adapter.publish(group.destination, [ping(9)]);
    await eventually(async () => (await adapter.lag(group)) === 1, 15_000, () => 'a message published after the stop is not counted');
  }, 90_000);

  it('counts the messages a queue holds for its workers', async () => {
    const destination: DestinationRef = { kind: 'queue', name: uniqueName('lagq') };
    const group: GroupSpec = { destination, group: 'workers', deadLetter: `${destination.name}.dlq`, retry: NO_RETRY };
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: group.deadLetter, maxDeliveries: 5 }], groups: [group] });
    await adapter.publish(destination, [ping(1), ping(2), ping(3), ping(4)]);
    await eventually(async () => (await adapter.lag(group)) === 4, 15_000, () => 'lag never reached 4');
    const consumer = await consume(adapter, destination, 'workers', { deadLetter: group.deadLetter! });
    try {
      await eventually(() => consumer.received.length >= 4, 30_000, () => `received ${consumer.received.length} of 4`);
      await eventually(async () => (await adapter.lag(group)) === 0, 15_000, () => 'lag never went back to 0');
    } finally {
      await consumer.subscription.stop();
    }
  }, 90_000);

  it('counts only its own group on a topic', async ({ annotate }) => {
    if (!adapter.capabilities.topics) {
      await annotate(`capability not available: ${underTest.name} has no topics (groups of a queue share its messages)`);
      return;
    }
    const first = await provisioned('first');
    const second: GroupSpec = { ...first, group: 'second', deadLetter: topicGroupDeadLetter(first.destination.name, 'second') };
    await adapter.provision({ topics: [], queues: [], groups: [second] });
    await adapter.publish(first.destination, [ping(1), ping(2), ping(3)]);
    const consumer = await consume(adapter, first.destination, 'first', { deadLetter: first.deadLetter! });
    try {
      await eventually(async () => (await adapter.lag(first)) === 0 && (await adapter.lag(second)) === 3, 30_000, () => 'the groups\' lags did not separate');
    } finally {
      await consumer.subscription.stop();
    }
  }, 90_000);

  it('refuses a destination that is not provisioned with an EdaflowError', async () => {
    const destination: DestinationRef = { kind: adapter.capabilities.topics ? 'topic' : 'queue', name: uniqueName('missing') };
    await expect(adapter.lag({ destination, group: 'nobody', deadLetter: null, retry: NO_RETRY })).rejects.toMatchObject({ name: 'EdaflowError' });
  }, 30_000);
});
