import type { Logger } from '../../observability/logger.js';

/**
 * Runs `round` again and again: after the delay it asks for (capped by the poll interval), or at once
 * when woken (a NOTIFY after a commit). A failing round is logged and retried on the next poll.
 */
export class Poller {
  private stopped = false;
  private woken = false;
  private wakeUp: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    /** One round of work; resolves how many ms until the next round is wanted (undefined: the poll interval). */
    private readonly round: () => Promise<number | undefined>,
    private readonly pollIntervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      let delay: number | undefined;
      try {
        delay = await this.round();
      } catch (error) {
        this.logger.error({ err: error, poller: this.name }, 'saga poller round failed');
      }
      if (this.stopped) break;
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, Math.min(delay ?? this.pollIntervalMs, this.pollIntervalMs)));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = undefined;
    }
  }
}
