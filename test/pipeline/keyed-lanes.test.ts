import { describe, expect, it } from 'vitest';
import { KeyedLanes } from '../../runtime/brokers/keyed-lanes.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('keyed lanes', () => {
  it('never runs more than the limit at once, and runs one key strictly in order', async () => {
    const lanes = new KeyedLanes(3);
    let running = 0;
    let peak = 0;
    const seen: Record<string, number[]> = {};
    for (let i = 0; i < 30; i++) {
      const key = `k${i % 5}`;
      await lanes.submit(key, async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(Math.random() * 5);
        (seen[key] ??= []).push(i);
        running--;
      });
    }
    await lanes.idle();
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    for (const sequence of Object.values(seen)) expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
    expect(Object.values(seen).flat()).toHaveLength(30);
  });

  it('keeps running the lane after a task fails', async () => {
    const lanes = new KeyedLanes(1);
    const done: string[] = [];
    await lanes.submit('a', async () => Promise.reject(new Error('boom')));
    await lanes.submit('a', async () => void done.push('second'));
    await lanes.idle();
    expect(done).toEqual(['second']);
  });
});
