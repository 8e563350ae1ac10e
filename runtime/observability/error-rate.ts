/** How far back the error rate looks (`alerts.errorRateAbove`, `edaflow_consumer_error_rate`). */
export const ERROR_RATE_WINDOW_MS = 5 * 60_000;
const SLOTS = 30;

/**
 * Failed and total deliveries of one consumer over a sliding window, in time slots (30 of 10 s for the
 * 5-minute window): the rate moves in 10-second steps and costs a fixed amount of memory however many
 * messages flow.
 */
export class ErrorRateWindow {
  private readonly slotMs: number;
  private readonly totals = new Array<number>(SLOTS).fill(0);
  private readonly failures = new Array<number>(SLOTS).fill(0);
  private readonly slotOf = new Array<number>(SLOTS).fill(-1);

  constructor(windowMs = ERROR_RATE_WINDOW_MS, private readonly now: () => number = Date.now) {
    this.slotMs = Math.max(1, Math.ceil(windowMs / SLOTS));
  }

  record(failed: boolean): void {
    const slot = Math.floor(this.now() / this.slotMs);
    const index = slot % SLOTS;
    if (this.slotOf[index] !== slot) {
      this.slotOf[index] = slot;
      this.totals[index] = 0;
      this.failures[index] = 0;
    }
    this.totals[index]!++;
    if (failed) this.failures[index]!++;
  }

  /** Failed / all deliveries of the window; undefined when there was none (no traffic is no error rate). */
  rate(): number | undefined {
    const current = Math.floor(this.now() / this.slotMs);
    let total = 0;
    let failed = 0;
    for (let index = 0; index < SLOTS; index++) {
      if (this.slotOf[index]! <= current - SLOTS) continue;
      total += this.totals[index]!;
      failed += this.failures[index]!;
    }
    return total === 0 ? undefined : failed / total;
  }
}
