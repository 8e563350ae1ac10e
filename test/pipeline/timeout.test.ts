import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../runtime/brokers/memory.js';
import { consume, eventually, ping } from '../conformance/harness.js';

describe('the consumer pipeline times a handler out', () => {
  it('aborts the attempt\'s signal and retries after the timeout, while quick attempts around it finish normally', async () => {
    const broker = new MemoryBroker('memory');
    const destination = { kind: 'queue', name: 'work' } as const;
    await broker.provision({ topics: [], queues: [{ name: 'work', deadLetter: 'work.dlq', maxDeliveries: 5 }], groups: [] });
    const aborted: string[] = [];
    const consumer = await consume(broker, destination, 'workers', {
      concurrency: 3,
      timeoutMs: 150,
      retry: { attempts: 2, backoff: 'fixed', delayMs: 10, maxDelayMs: 10, jitter: false },
      handler: async (envelope, context) => {
        if ((envelope.data as { n: number }).n !== 1 || context.attempt > 1) return;
        // Never finishes by itself: only the timeout ends it.
        await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => (aborted.push(String(context.signal.reason)), resolve())));
      },
    });
    await broker.publish(destination, [ping(0), ping(1), ping(2)]);
    await eventually(() => consumer.outcomes.filter((o) => o === 'handled').length === 3, 5_000, () => consumer.outcomes.join(','));
    expect(consumer.outcomes.filter((o) => o === 'retried')).toHaveLength(1);
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toContain('did not finish within 150 ms');
    await broker.close();
  });

  it('a signal first read after the timeout is already aborted (the controller is made on first read)', async () => {
    const broker = new MemoryBroker('memory');
    const destination = { kind: 'queue', name: 'late-reader' } as const;
    await broker.provision({ topics: [], queues: [{ name: 'late-reader', deadLetter: 'late-reader.dlq', maxDeliveries: 5 }], groups: [] });
    const seen: { aborted: boolean; reason: string }[] = [];
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const consumer = await consume(broker, destination, 'workers', {
      timeoutMs: 50,
      retry: { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false },
      handler: async (_envelope, context) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        seen.push({ aborted: context.signal.aborted, reason: String(context.signal.reason) });
        finish();
      },
    });
    await broker.publish(destination, [ping(0)]);
    await finished;
    await eventually(() => consumer.outcomes.length === 1, 5_000, () => consumer.outcomes.join(','));
    expect(consumer.outcomes).toEqual(['dead-lettered']);
    expect(seen).toEqual([{ aborted: true, reason: expect.stringContaining('did not finish within 50 ms') }]);
    await broker.close();
  });
});
