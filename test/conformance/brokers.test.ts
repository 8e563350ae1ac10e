import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lateSettlement } from '../../runtime/pipeline/consumer.js';
import type { BrokerAdapter, DestinationRef } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { createEnvelope } from '../../runtime/envelope/index.js';
import { ensureServers } from '../servers/servers.mjs';
import { ADAPTERS } from './adapters.js';
import { consume, eventually, ping, randomUUID, sleep, uniqueName, NO_RETRY } from './harness.js';

/**
 * One conformance suite for every broker adapter (DESIGN.md): the same cases, against the real server,
 * through the shared consumer pipeline. A capability an adapter declares it lacks (SQS has no topics) is
 * reported and its refusal checked; nothing is silently skipped.
 */
describe.each(ADAPTERS)('broker conformance: $name', (underTest) => {
  let adapter: BrokerAdapter;

  beforeAll(async () => {
    if (underTest.servers.length) await ensureServers([...underTest.servers]);
    adapter = await underTest.create();
    await adapter.connect();
  }, 180_000);

  afterAll(async () => {
    await adapter?.close();
  });

  async function topic(groups: readonly string[] = [], partitions = 1): Promise<DestinationRef> {
    const destination: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    await adapter.provision({
      topics: [{ name: destination.name, partitions }],
      queues: [],
      groups: groups.map((group) => ({ destination, group, deadLetter: topicGroupDeadLetter(destination.name, group), retry: NO_RETRY })),
    });
    return destination;
  }

  /**
   * A case about pub/sub itself, on an adapter that declares `topics: false`: the gap is reported
   * (annotation) and checked — the adapter must refuse a topic with an EdaflowError, never accept it
   * silently — instead of failing as if the adapter were broken. Returns true when the case should stop.
   */
  async function lacksTopics(annotate: (message: string) => Promise<unknown>): Promise<boolean> {
    if (adapter.capabilities.topics) return false;
    await annotate(`capability not available: ${underTest.name} declares topics = false`);
    const refusal = await adapter.provision({ topics: [{ name: uniqueName('topic'), partitions: 1 }], queues: [], groups: [] }).then(() => undefined, (error: unknown) => error);
    expect(refusal).toMatchObject({ name: 'EdaflowError' });
    return true;
  }

  /** A case about the pipeline, not about pub/sub: on a topic where the adapter has them, else on a queue. */
  async function destinationFor(group: string): Promise<DestinationRef> {
    if (adapter.capabilities.topics) return topic([group]);
    const destination = await queue();
    if (group !== 'workers') await adapter.provision({ topics: [], queues: [], groups: [{ destination, group, deadLetter: `${destination.name}.dlq`, retry: NO_RETRY }] });
    return destination;
  }

  async function queue(maxDeliveries = 10): Promise<DestinationRef> {
    const destination: DestinationRef = { kind: 'queue', name: uniqueName('queue') };
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries }], groups: [{ destination, group: 'workers', deadLetter: `${destination.name}.dlq`, retry: NO_RETRY }] });
    return destination;
  }

  it('fans a topic out to every consumer group', async ({ annotate }) => {
    if (await lacksTopics(annotate)) return;
    const destination = await topic(['billing', 'shipping']);
    const billing = await consume(adapter, destination, 'billing');
    const shipping = await consume(adapter, destination, 'shipping');
    await adapter.publish(destination, Array.from({ length: 10 }, (_, n) => ping(n)));
    await eventually(() => billing.received.length === 10 && shipping.received.length === 10, 20_000, () => `billing ${billing.received.length}, shipping ${shipping.received.length}`);
    expect(billing.received.map((r) => (r.envelope.data as { n: number }).n).sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(shipping.received.map((r) => (r.envelope.data as { n: number }).n).sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    await Promise.all([billing.subscription.stop(), shipping.subscription.stop()]);
  });

  it('starts a new group at the topic\'s end as of provisioning; a group provisioned with its topic misses nothing', async ({ annotate }) => {
    if (await lacksTopics(annotate)) return;
    const destination = await topic(['early']);
    const numbers = (consumer: { received: { envelope: { data: unknown } }[] }): number[] => consumer.received.map((r) => (r.envelope.data as { n: number }).n).sort((a, b) => a - b);
    // Published before anyone consumes, then provisioned again (`edaflow publish`, then `edaflow run`).
    await adapter.publish(destination, [0, 1, 2].map((n) => ping(n)));
    await adapter.provision({ topics: [{ name: destination.name, partitions: 1 }], queues: [], groups: ['early', 'late'].map((group) => ({ destination, group, deadLetter: topicGroupDeadLetter(destination.name, group), retry: NO_RETRY })) });
    const early = await consume(adapter, destination, 'early');
    const late = await consume(adapter, destination, 'late');
    await adapter.publish(destination, [3, 4, 5].map((n) => ping(n)));
    await eventually(() => early.received.length >= 6 && late.received.length >= 3, 20_000, () => `early ${numbers(early)}, late ${numbers(late)}`);
    await sleep(300);
    expect(numbers(early)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(numbers(late)).toEqual([3, 4, 5]);
    await Promise.all([early.subscription.stop(), late.subscription.stop()]);
  });

  it('starts a group that has no position at startAt: earliest reads the retained history, latest only what follows', async ({ annotate }) => {
    if (await lacksTopics(annotate)) return;
    const destination = await topic();
    const numbers = (consumer: { received: { envelope: { data: unknown } }[] }): number[] => consumer.received.map((r) => (r.envelope.data as { n: number }).n).sort((a, b) => a - b);
    await adapter.publish(destination, [0, 1, 2].map((n) => ping(n)));
    const throwaway = { ephemeral: true } as const;
    const earliest = await consume(adapter, destination, `tail-${randomUUID()}`, { ...throwaway, startAt: 'earliest' });
    const latest = await consume(adapter, destination, `tail-${randomUUID()}`, { ...throwaway, startAt: 'latest' });
    await adapter.publish(destination, [3, 4, 5].map((n) => ping(n)));
    const history = adapter.capabilities.topicHistory ? [0, 1, 2] : [];
    if (!adapter.capabilities.topicHistory) await annotate(`${underTest.name} keeps no topic history: earliest is latest`);
    await eventually(() => earliest.received.length >= history.length + 3 && latest.received.length >= 3, 20_000, () => `earliest ${numbers(earliest)}, latest ${numbers(latest)}`);
    await sleep(300);
    expect(numbers(earliest)).toEqual([...history, 3, 4, 5]);
    expect(numbers(latest)).toEqual([3, 4, 5]);
    await Promise.all([earliest.subscription.stop(), latest.subscription.stop()]);
    // A group keeps its position once it has one (provisioning gave it the end): startAt never moves it.
    await adapter.provision({ topics: [], queues: [], groups: [{ destination, group: 'kept', deadLetter: topicGroupDeadLetter(destination.name, 'kept'), retry: NO_RETRY }] });
    await adapter.publish(destination, [ping(6)]);
    const again = await consume(adapter, destination, 'kept', { startAt: 'earliest' });
    await eventually(() => again.received.length >= 1, 20_000, () => `kept ${numbers(again)}`);
    await sleep(300);
    expect(numbers(again)).toEqual([6]);
    await again.subscription.stop();
  });

  it('shares a queue between competing consumers, each message handled once', async () => {
    const destination = await queue();
    const slow = async (): Promise<void> => sleep(30);
    const first = await consume(adapter, destination, 'workers', { handler: slow, prefetch: 1 });
    const second = await consume(adapter, destination, 'workers', { handler: slow, prefetch: 1 });
    await adapter.publish(destination, Array.from({ length: 20 }, (_, n) => ping(n)));
    const all = (): number[] => [...first.received, ...second.received].map((r) => (r.envelope.data as { n: number }).n);
    await eventually(() => all().length >= 20, 20_000, () => `handled ${all().length}`);
    await sleep(200);
    expect(all().sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(first.received.length).toBeGreaterThan(0);
    expect(second.received.length).toBeGreaterThan(0);
    await Promise.all([first.subscription.stop(), second.subscription.stop()]);
  });

  it('keeps per-key order on a topic while handling keys concurrently', async ({ annotate }) => {
    if (await lacksTopics(annotate)) return;
    const destination = await topic(['ordered'], 3);
    const consumer = await consume(adapter, destination, 'ordered', { concurrency: 4, handler: async () => sleep(Math.random() * 10) });
    const keys = ['a', 'b', 'c', 'd'];
    await adapter.publish(destination, Array.from({ length: 40 }, (_, n) => ping(n, { key: keys[n % 4]! })));
    await eventually(() => consumer.received.length === 40, 30_000, () => `handled ${consumer.received.length}`);
    for (const key of keys) {
      const sequence = consumer.received.filter((r) => r.envelope.subject === key).map((r) => (r.envelope.data as { n: number }).n);
      expect(sequence, `order of key ${key}`).toEqual([...sequence].sort((a, b) => a - b));
      expect(sequence).toHaveLength(10);
    }
    await consumer.subscription.stop();
  });

  it('retries with the declared attempts and backoff, then succeeds', async () => {
    const destination = await queue();
    const consumer = await consume(adapter, destination, 'workers', {
      retry: { attempts: 3, backoff: 'fixed', delayMs: 400, maxDelayMs: 400, jitter: false },
      handler: async (_envelope, context) => {
        if (context.attempt < 3) throw new Error(`attempt ${context.attempt} fails`);
      },
    });
    await adapter.publish(destination, [ping(1)]);
    await eventually(() => consumer.outcomes.includes('handled'), 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect(consumer.received.map((r) => r.attempt)).toEqual([1, 2, 3]);
    const gaps = consumer.received.slice(1).map((r, i) => r.at - consumer.received[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(350);
    await consumer.subscription.stop();
  });

  it('dead-letters after the last attempt, with the error, attempt count, origin and time', async () => {
    const destination = await queue();
    const consumer = await consume(adapter, destination, 'workers', {
      retry: { attempts: 2, backoff: 'fixed', delayMs: 50, maxDelayMs: 50, jitter: false },
      handler: async () => {
        throw new Error('payment gateway said no');
      },
    });
    await adapter.publish(destination, [ping(7)]);
    await eventually(() => consumer.outcomes.includes('dead-lettered'), 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 1, 10_000, () => 'dead letter not visible');
    const [letter] = await adapter.deadLetters.list(consumer.deadLetter);
    expect(letter!.info).toMatchObject({ reason: 'failed', error: 'payment gateway said no', attempts: 2, origin: destination, group: 'workers' });
    expect(Date.parse(letter!.info.failedAt)).toBeGreaterThan(Date.now() - 60_000);
    await consumer.subscription.stop();
  });

  it('dead-letters a payload that fails its schema at once, naming the JSON pointer', async () => {
    const destination = await queue();
    const consumer = await consume(adapter, destination, 'workers', { retry: { attempts: 5, backoff: 'fixed', delayMs: 50, maxDelayMs: 50, jitter: false } });
    await adapter.publish(destination, [{ envelope: createEnvelope('Ping', { n: 'not a number', label: 'x' }, 'conformance', { dataversion: 2 }) }]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 1, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    const [letter] = await adapter.deadLetters.list(consumer.deadLetter);
    expect(letter!.info.reason).toBe('invalid');
    expect(letter!.info.attempts).toBe(1);
    expect(letter!.info.error).toContain('/n');
    expect(consumer.received).toHaveLength(0);
    await consumer.subscription.stop();
  });

  it('upcasts a version 1 message to version 2 before the handler sees it', async () => {
    const destination = await destinationFor('upcast');
    const consumer = await consume(adapter, destination, 'upcast');
    await adapter.publish(destination, [ping(42, { version: 1 })]);
    await eventually(() => consumer.received.length === 1, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect(consumer.received[0]!.envelope.data).toEqual({ n: 42, label: 'ping 42' });
    expect(consumer.received[0]!.envelope.dataversion).toBe(2);
    await consumer.subscription.stop();
  });

  it('handles a redelivered message id only once', async () => {
    const destination = await queue();
    const consumer = await consume(adapter, destination, 'workers', { dedup: true });
    const id = randomUUID();
    await adapter.publish(destination, [ping(1, { id }), ping(1, { id })]);
    await eventually(() => consumer.outcomes.length === 2, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect(consumer.outcomes.sort()).toEqual(['duplicate', 'handled']);
    expect(consumer.received).toHaveLength(1);
    await consumer.subscription.stop();
  });

  it('sends a retried dead letter back to its origin', async () => {
    const destination = await destinationFor('flaky');
    let broken = true;
    const consumer = await consume(adapter, destination, 'flaky', {
      handler: async () => {
        if (broken) throw new Error('not yet');
      },
    });
    await adapter.publish(destination, [ping(5)]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 1, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    broken = false;
    const [letter] = await adapter.deadLetters.list(consumer.deadLetter);
    await adapter.deadLetters.retry(consumer.deadLetter, letter!.id);
    await eventually(() => consumer.outcomes.includes('handled'), 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect((consumer.received.at(-1)!.envelope.data as { n: number }).n).toBe(5);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 0, 10_000, () => 'dead letter still there');
    await consumer.subscription.stop();
  });

  it('takes late acknowledgements where it declares lateAck: delivers on, never saves a position past an unacknowledged message, redelivers those after a restart', async ({ annotate }) => {
    if (await lacksTopics(annotate)) return;
    if (!adapter.capabilities.lateAck) return void annotate(`capability not available: ${underTest.name} declares lateAck = false (a handler settles before it returns)`);
    const destination = await topic(['late']);
    await adapter.publish(destination, Array.from({ length: 6 }, (_, n) => ping(n, { key: 'one-key' })));
    const acks = new Map<number, () => void>();
    const never = new Error('not committed');
    const first = await consume(adapter, destination, 'late', {
      prefetch: 10,
      handler: async (envelope) => {
        const n = (envelope.data as { n: number }).n;
        const committed = new Promise<void>((resolve, reject) => acks.set(n, () => (n === 2 || n === 5 ? reject(never) : resolve())));
        committed.catch(() => undefined);
        return lateSettlement(committed);
      },
    });
    // Every message of the key arrives though none is acknowledged yet.
    await eventually(() => first.received.length === 6, 20_000, () => `${first.received.length} of 6 delivered before any ack`);
    for (const n of [0, 1, 3, 4, 2, 5]) acks.get(n)!();
    await sleep(300);
    await first.subscription.stop();
    const second = await consume(adapter, destination, 'late');
    // NATS hands them back at stop, once its last pull request has ended (at most a second later).
    await eventually(() => [2, 5].every((n) => second.received.some((r) => (r.envelope.data as { n: number }).n === n)), 45_000, () => `redelivered: ${second.received.map((r) => (r.envelope.data as { n: number }).n).join(', ')}`);
    await sleep(300);
    const redelivered = second.received.map((r) => (r.envelope.data as { n: number }).n);
    // 0 and 1 were acknowledged before anything unsettled: never again. 3 and 4 may come again (at least once).
    expect(redelivered.filter((n) => n < 2)).toEqual([]);
    expect([...new Set(redelivered)].sort()).toEqual(expect.arrayContaining([2, 5]));
    await second.subscription.stop();
  }, 60_000);

  it('stops gracefully: in-flight work finishes and is acknowledged, the rest stays for the next consumer', async () => {
    const destination = await queue();
    const first = await consume(adapter, destination, 'workers', { handler: async () => sleep(300), prefetch: 1 });
    await adapter.publish(destination, Array.from({ length: 5 }, (_, n) => ping(n)));
    await eventually(() => first.received.length >= 1, 20_000, () => 'nothing received');
    await first.subscription.stop();
    const handledBeforeStop = first.outcomes.filter((o) => o === 'handled').length;
    expect(handledBeforeStop).toBe(first.received.length);
    const second = await consume(adapter, destination, 'workers');
    await eventually(() => first.received.length + second.received.length >= 5, 20_000, () => `first ${first.received.length}, second ${second.received.length}`);
    await sleep(300);
    const all = [...first.received, ...second.received].map((r) => (r.envelope.data as { n: number }).n).sort((a, b) => a - b);
    expect(all).toEqual([0, 1, 2, 3, 4]);
    await second.subscription.stop();
  });
});
