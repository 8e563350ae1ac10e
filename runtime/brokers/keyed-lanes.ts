/**
 * Runs tasks with bounded concurrency while keeping tasks of one key strictly sequential, in
 * submission order (per-key order on topics). Tasks without a key run in any free slot.
 * `submit` resolves once the task is queued and a slot is free for the next one, so a fetch loop
 * that awaits it never holds more than `limit` tasks in flight.
 */
export class KeyedLanes {
  private running = 0;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly waiters: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError('concurrency must be at least 1');
  }

  async submit(key: string | undefined, task: () => Promise<void>): Promise<void> {
    while (this.running >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.running++;
    const previous = key === undefined ? undefined : this.tails.get(key);
    const run = (async () => {
      try {
        if (previous) await previous;
        await task();
      } finally {
        this.running--;
        this.waiters.shift()?.();
      }
    })();
    const settled = run.catch(() => undefined);
    if (key !== undefined) {
      this.tails.set(key, settled);
      void settled.then(() => {
        if (this.tails.get(key) === settled) this.tails.delete(key);
      });
    }
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
  }

  /** Resolves when every submitted task has finished. */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }
}
