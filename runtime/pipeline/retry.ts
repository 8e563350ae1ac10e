import type { RetryPolicy } from '../definitions/index.js';

/**
 * The delay before attempt `attempt + 1` after attempt `attempt` failed (attempt is 1-based).
 * Exponential doubles from `delayMs`, linear adds it, fixed repeats it; all are capped at
 * `maxDelayMs`. Jitter is "equal jitter" (half fixed, half random): retries of many messages spread
 * out, yet never come back sooner than half the nominal delay.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const step = Math.max(1, attempt);
  const nominal =
    policy.backoff === 'exponential' ? policy.delayMs * 2 ** (step - 1) : policy.backoff === 'linear' ? policy.delayMs * step : policy.delayMs;
  const capped = Math.min(nominal, policy.maxDelayMs);
  return policy.jitter ? Math.round(capped / 2 + random() * (capped / 2)) : capped;
}

/** Whether a failed attempt gets another try. */
export function shouldRetry(policy: RetryPolicy, attempt: number): boolean {
  return attempt < policy.attempts;
}
