import { describe, expect, it } from 'vitest';
import { retryDelay, shouldRetry } from '../../runtime/pipeline/retry.js';
import type { RetryPolicy } from '../../runtime/definitions/index.js';

const policy = (overrides: Partial<RetryPolicy>): RetryPolicy => ({ attempts: 5, backoff: 'exponential', delayMs: 200, maxDelayMs: 30_000, jitter: false, ...overrides });

describe('retry delays', () => {
  it('doubles from the first delay, capped at maxDelay', () => {
    expect([1, 2, 3, 4, 5, 9].map((attempt) => retryDelay(policy({ maxDelayMs: 1_000 }), attempt))).toEqual([200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it('adds the first delay each time when linear, repeats it when fixed', () => {
    expect([1, 2, 3].map((attempt) => retryDelay(policy({ backoff: 'linear' }), attempt))).toEqual([200, 400, 600]);
    expect([1, 2, 3].map((attempt) => retryDelay(policy({ backoff: 'fixed' }), attempt))).toEqual([200, 200, 200]);
  });

  it('jitters between half and all of the nominal delay', () => {
    const jittered = policy({ jitter: true });
    expect(retryDelay(jittered, 3, () => 0)).toBe(400);
    expect(retryDelay(jittered, 3, () => 1)).toBe(800);
    expect(retryDelay(jittered, 3, () => 0.5)).toBe(600);
  });

  it('counts the first attempt among the declared attempts', () => {
    expect([1, 2, 3].map((attempt) => shouldRetry(policy({ attempts: 3 }), attempt))).toEqual([true, true, false]);
  });
});
