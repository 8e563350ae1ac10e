import { describe, expect, it } from 'vitest';
import { BatchedAcks } from '../../runtime/brokers/batched-acks.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('acks written together (BatchedAcks)', () => {
  it('writes the acks of one event-loop turn together, in chunks of the broker\'s size, some at once', async () => {
    const writes: number[][] = [];
    const acks = new BatchedAcks<number>({ write: async (chunk) => void writes.push(chunk), chunk: 10, parallel: 2, onError: () => undefined });
    for (let n = 0; n < 25; n++) acks.ack(n);
    expect(writes).toEqual([]); // not before the turn ends
    await acks.flushed();
    expect(writes).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [20, 21, 22, 23, 24]]);
  });

  it('acks that arrive while a write runs go in the next write, not one each', async () => {
    const writes: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const acks = new BatchedAcks<number>({
      write: async (chunk) => {
        writes.push(chunk);
        if (writes.length === 1) await first;
      },
      chunk: 100,
      onError: () => undefined,
    });
    acks.ack(1);
    await turn();
    for (let n = 2; n <= 6; n++) acks.ack(n);
    release();
    await acks.flushed();
    expect(writes).toEqual([[1], [2, 3, 4, 5, 6]]);
  });

  it('tries a failing write again, and after the last try reports it (the messages come back after their lease)', async () => {
    let calls = 0;
    const errors: string[] = [];
    const flaky = new BatchedAcks<number>({
      write: async () => {
        if (++calls < 3) throw new Error('connection reset');
      },
      chunk: 10,
      onError: (_error, what) => errors.push(what),
    });
    flaky.ack(1);
    await flaky.flushed();
    expect([calls, errors]).toEqual([3, []]);
    const broken = new BatchedAcks<number>({ write: async () => Promise.reject(new Error('gone')), chunk: 10, onError: (_error, what) => errors.push(what) });
    broken.ack(1);
    broken.ack(2);
    await broken.flushed();
    expect(errors).toEqual(['acknowledging 2 messages (they come back after their lease)']);
  }, 10_000);
});
