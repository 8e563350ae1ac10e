import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../observability/logger.js';

/**
 * The acks of one subscription, sent together at the end of the event-loop turn. The nats client
 * writes what is queued within one microtask as one socket write; a delivery's pipeline awaits several
 * times, so acks settled one by one went out as a write (a syscall) each, more than the messages
 * themselves cost (bench:brokers NATS: +28% with this). An ack is only delayed by one turn, never
 * lost: a crash before it goes out means a redelivery after ack_wait, as it always did.
 */
export class TurnAcks {
  private pending: JsMsg[] = [];
  private flushing: NodeJS.Immediate | undefined;

  constructor(private readonly logger: Logger) {}

  ack(message: JsMsg): void {
    this.pending.push(message);
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Sends every ack waiting (stop() calls it before the connection may close). */
  flush(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    const messages = this.pending;
    this.pending = [];
    for (const message of messages) {
      try {
        message.ack();
      } catch (error) {
        this.logger.warn({ seq: message.info.streamSequence, error: (error as Error).message }, 'NATS ack failed; the server will redeliver');
      }
    }
  }
}
