/**
 * A wake-up for one waiting loop (a consumer, the outbox relay, a stream runner under back-pressure):
 * NOTIFY, a settled delivery or a commit calls `wake`; the loop
 * `wait`s at most the poll interval (the fallback when a notification is lost). A wake that comes while
 * the loop is busy is remembered, so the loop never sleeps through news that arrived mid-query.
 */
export class Signal {
  private pending = false;
  private readonly waiters = new Set<() => void>();

  wake(): void {
    if (!this.waiters.size) this.pending = true;
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Forgets earlier wakes: call right before looking for work. */
  reset(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}
