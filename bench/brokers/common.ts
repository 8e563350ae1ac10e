/** What every case of `npm run bench:brokers` shares: the workload, the payload, and a few helpers. */
import { createEnvelope, encodeBinary, type Envelope } from '../../dist/runtime/envelope/index.js';

export interface Workload {
  /** Unique name of this run's queue/topic (each broker's own rules apply on top). */
  readonly name: string;
  readonly messages: number;
  /** Messages per publish call, each call awaited (broker-confirmed) before the next. */
  readonly batch: number;
  /** Unsettled deliveries the consumer may hold. */
  readonly prefetch: number;
  /** Deliveries handled at once. */
  readonly concurrency: number;
  /** Bound on one measured run. */
  readonly timeoutMs: number;
  /**
   * Send the very message edaflow sends (its CloudEvents attributes as the broker's headers, binary
   * mode, computed before the clock starts) instead of the data alone: what the envelope costs the
   * client library and the broker, apart from edaflow's own code.
   */
  readonly cloudEvents: boolean;
}

/** Seconds from the first publish to the last ack, and to the last publish confirmed (consumers running meanwhile). */
export interface Timing {
  readonly seconds: number;
  readonly publishSeconds: number;
}

/** A raw baseline: provisions, measures publish → consume → ack of the workload, cleans up. */
export type RawBaseline = (workload: Workload) => Promise<Timing>;

/** The message data both sides send (edaflow wraps it in a CloudEvents envelope). */
export function payload(n: number): { n: number; label: string } {
  return { n, label: `ping ${n}` };
}

/** A raw message: the body, and with `workload.cloudEvents` the headers edaflow would send with it. */
export interface RawMessage {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>> | undefined;
}

/** Message `n` of a run as edaflow sends it. */
export function pingEnvelope(n: number): Envelope {
  return createEnvelope('Ping', payload(n), 'bench', { dataversion: 1 });
}

/** The workload's messages; `prefix` is the broker's CloudEvents header prefix (as its adapter writes them). */
export function rawMessages(workload: Workload, prefix: string): RawMessage[] {
  return Array.from({ length: workload.messages }, (_, n) => {
    if (!workload.cloudEvents) return { body: Buffer.from(JSON.stringify(payload(n))), headers: undefined };
    const wire = encodeBinary(pingEnvelope(n), prefix);
    return { body: wire.body, headers: wire.headers };
  });
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

/**
 * Counts acknowledged messages. `start()` at the first publish, `published()` after the last; `done`
 * resolves with the timing, or rejects after `timeoutMs` saying how many arrived.
 */
export class Acks {
  private count = 0;
  private started = 0;
  private publishSeconds = NaN;
  private finish!: (timing: Timing) => void;
  readonly done: Promise<Timing>;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly total: number, what: string, timeoutMs: number) {
    let fail!: (error: Error) => void;
    this.done = new Promise<Timing>((resolve, reject) => ((this.finish = resolve), (fail = reject)));
    this.timer = setTimeout(() => fail(new Error(`${what}: only ${this.count} of ${this.total} messages acknowledged within ${timeoutMs} ms`)), timeoutMs);
    this.done.then(() => clearTimeout(this.timer), () => undefined);
  }

  start(): void {
    this.started = performance.now();
  }

  published(): void {
    this.publishSeconds = (performance.now() - this.started) / 1000;
  }

  ack(): void {
    if (++this.count !== this.total) return;
    const acks = this; // the last publish may be confirmed after the last ack: read its time when asked
    this.finish({ seconds: (performance.now() - this.started) / 1000, get publishSeconds() { return acks.publishSeconds; } });
  }

  get acknowledged(): number {
    return this.count;
  }
}

/** A wake-up for a polling loop: `wait(ms)` resolves on `wake()` or after `ms`. */
export class Wake {
  private wakers: (() => void)[] = [];
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakers.push(() => (clearTimeout(timer), resolve()));
    });
  }
  wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }
}
