import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** The alerts edaflow raises; the `alert` label of `edaflow_alert_active`. */
export type AlertName = 'consumer-lag' | 'error-rate' | 'dlq-size' | 'projection-lag';

export interface AlertReading {
  readonly alert: AlertName;
  readonly subject: string;
  /** The measured value; undefined when there is none (no traffic for an error rate): never crossed. */
  readonly value: number | undefined;
  readonly threshold: number;
  /** The warning when it crosses, and the info when it clears. */
  readonly crossed: string;
  readonly cleared: string;
  readonly fields?: Record<string, unknown>;
}

/**
 * Alert episodes: a reading above its threshold starts an episode (one warning, the alert gauge at 1),
 * later readings above it change nothing, and the first one at or below it ends it (one info, the
 * gauge at 0). So a lasting problem is one warning, not one per check.
 */
export class AlertEpisodes {
  private readonly active = new Set<string>();

  constructor(private readonly metrics: Metrics, private readonly logger: Logger) {}

  update(reading: AlertReading): boolean {
    const key = `${reading.alert}\u0000${reading.subject}`;
    const crossed = reading.value !== undefined && reading.value > reading.threshold;
    const fields = { alert: reading.alert, subject: reading.subject, value: reading.value, threshold: reading.threshold, ...reading.fields };
    if (crossed && !this.active.has(key)) this.logger.warn(fields, reading.crossed);
    if (!crossed && this.active.has(key)) this.logger.info(fields, reading.cleared);
    if (crossed) this.active.add(key);
    else this.active.delete(key);
    this.metrics.alerts.set({ alert: reading.alert, subject: reading.subject }, crossed ? 1 : 0);
    return crossed;
  }
}

/**
 * Runs `check` every `intervalMs` (never two at once), logging a failed check instead of throwing.
 * `stop` waits for a check in progress, so none runs on after what it measures is closed.
 */
export function everyInterval(check: () => Promise<void>, intervalMs: number, logger: Logger): { check(): Promise<void>; stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const once = (): Promise<void> =>
    (running ??= check()
      .catch((error: unknown) => logger.warn({ err: error }, 'a monitoring check failed'))
      .finally(() => (running = undefined)));
  const timer = setInterval(() => void once(), intervalMs);
  timer.unref();
  return {
    check: once,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
