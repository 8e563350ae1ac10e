import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../runtime/pipeline/deadlines.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Deadlines: handler timeouts on one timer', () => {
  it('expires only the attempts still running at their deadline, each once and in order', async () => {
    const deadlines = new Deadlines(60);
    const expired: string[] = [];
    const cancelFirst = deadlines.start(() => expired.push('first'));
    deadlines.start(() => expired.push('second'));
    await sleep(20);
    deadlines.start(() => expired.push('third'));
    cancelFirst();
    await sleep(55);
    expect(expired).toEqual(['second']);
    await sleep(40);
    expect(expired).toEqual(['second', 'third']);
  });

  it('keeps working after every attempt finished (the queue empties and starts again)', async () => {
    const deadlines = new Deadlines(30);
    const expired: number[] = [];
    for (let n = 0; n < 2000; n++) deadlines.start(() => expired.push(n))();
    deadlines.start(() => expired.push(-1));
    await sleep(80);
    expect(expired).toEqual([-1]);
  });
});
