import type { Channel, ConsumeMessage } from 'amqplib';

/**
 * The acknowledgements of one consumer channel, coalesced. A quorum queue writes every basic.ack to its
 * Raft log, so one ack per message costs the broker about as much as the publish did; instead, acks
 * settled during one turn of the event loop go out together at its end, as one `multiple` ack for the
 * longest run of settled deliveries from the oldest unsettled one (AMQP: every delivery tag up to it).
 * A settled delivery behind one still running is acked alone, so a slow handler never holds the
 * prefetch slots of the others. An ack is only delayed (by one event-loop turn), never lost: a crash
 * before it goes out means a redelivery, as it always did.
 */
export class ChannelAcks {
  /** Deliveries not yet acked or nacked, in delivery-tag order (the order the channel delivered them). */
  private unsettled: ConsumeMessage[] = [];
  private readonly settled = new Set<number>();
  private flushing: NodeJS.Immediate | undefined;

  constructor(private readonly channel: Channel) {}

  /** Call for every delivery as it arrives, before any of its settling. */
  received(message: ConsumeMessage): void {
    this.unsettled.push(message);
  }

  /** Acks at the end of this event-loop turn, together with the others settled meanwhile. */
  ack(message: ConsumeMessage): void {
    this.settled.add(message.fields.deliveryTag);
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Requeues at once. The next `multiple` ack may cover its tag: the broker has settled it by then. */
  nack(message: ConsumeMessage): void {
    this.unsettled = this.unsettled.filter((pending) => pending !== message);
    settleQuietly(() => this.channel.nack(message, false, true));
  }

  /** Sends every ack that is waiting (stop() calls it before closing the channel). */
  flush(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    if (!this.settled.size) return;
    let run = 0;
    while (run < this.unsettled.length && this.settled.has(this.unsettled[run]!.fields.deliveryTag)) run++;
    if (run > 0) {
      const last = this.unsettled[run - 1]!;
      settleQuietly(() => this.channel.ack(last, run > 1));
    }
    const rest: ConsumeMessage[] = [];
    for (const message of this.unsettled.slice(run)) {
      if (this.settled.has(message.fields.deliveryTag)) settleQuietly(() => this.channel.ack(message));
      else rest.push(message);
    }
    this.unsettled = rest;
    this.settled.clear();
  }
}

/** A settle on a channel that died is moot: the broker already requeued the message and redelivers it. */
export function settleQuietly(settle: () => void): void {
  try {
    settle();
  } catch {
    // channel closed: the broker redelivers the message (at-least-once)
  }
}
