import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../observability/logger.js';
import type { DeadLetterInfo, Delivery, SubscribeRequest, Subscription } from '../adapter.js';
import { BatchedAcks } from '../batched-acks.js';
import { KeyedLanes } from '../keyed-lanes.js';
import { ACK_WAIT_MS } from './provision.js';
import { destinationStream, fromNatsHeaders, groupSubject, KEY_HEADER, subject } from './wire.js';

/**
 * Long-poll length of one pull request. A stop waits for the pull in flight to end (at most this long)
 * and hands back what it still brings: the server keeps delivering to a pull until it expires, and a
 * message sent to a pull the client has already closed would wait out ack_wait (30 s) unacknowledged.
 * The client expects a heartbeat every half of it, and ends a pull that missed two.
 */
const FETCH_EXPIRES_MS = 2_000;
/** A pull that has not ended this long after its expiry never will by itself (the connection is down): a stop closes it. */
const STOP_GRACE_MS = 1_000;
const MAX_BACKOFF_MS = 2_000;

export interface SubscriptionContext {
  readonly js: JetStreamClient;
  readonly logger: Logger;
  readonly request: SubscribeRequest;
  /** The consumer's name (a throwaway group's is the server's, and changes if it is re-created). */
  readonly consumer: () => string;
  readonly deliver: (delivery: Delivery) => Promise<void>;
  /** Publishes a copy of `message` to the group's dead-letter stream (durably) before it is acked. */
  readonly deadLetter: (message: JsMsg, info: DeadLetterInfo) => Promise<void>;
  /** Re-creates the consumer if it vanished (a server restarted without its store, an operator deleted it). */
  readonly ensureConsumer: () => Promise<void>;
}

/** A wake-up call between the fetch and dispatch loops. */
class Signal {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

interface Deferred {
  readonly promise: Promise<JsMsg | undefined>;
  readonly resolve: (message: JsMsg | undefined) => void;
}

/** Resolves with the redelivery, or with undefined after `timeoutMs` (another subscriber of the group took it). */
function deferred(timeoutMs: number, onTimeout: () => void): Deferred {
  let resolve!: (message: JsMsg | undefined) => void;
  const promise = new Promise<JsMsg | undefined>((r) => (resolve = r));
  const timer = setTimeout(() => {
    onTimeout();
    resolve(undefined);
  }, timeoutMs);
  return { promise, resolve: (message) => (clearTimeout(timer), resolve(message)) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One subscriber of a durable pull consumer. A fetch loop pulls at most `prefetch` unsettled messages
 * and never blocks on the handlers; a dispatch loop feeds them to KeyedLanes (bounded concurrency, one
 * key at a time, in stream order).
 *
 * Retry is the server's: `nak(delay)`, and the attempt is the server's delivery count. On a topic, a
 * keyed message being retried HOLDS its key's lane until its redelivery settles (Kafka's semantics):
 * later messages of that key wait instead of overtaking it. The lane task waits for the redelivery by
 * stream sequence; the fetch loop hands it over directly, which is why it must never wait for a lane.
 * A held message does not count against prefetch (it is back on the server), so holds cannot starve
 * the fetch of the very redeliveries they wait for.
 */
export class NatsSubscription implements Subscription {
  private running = true;
  private unsettled = 0;
  private readonly pending: JsMsg[] = [];
  /** Delivered to the pull request after the stop began: handed back once that pull has ended. */
  private readonly arrivedWhileStopping: JsMsg[] = [];
  private readonly held = new Map<number, Deferred>();
  /** Fetched and not yet settled: told `working()` so the server does not redeliver them while they queue. */
  private readonly inProgress = new Set<JsMsg>();
  /** Delivered and waiting for a late ack: how to hand each back (nak) if the subscription stops first. */
  private readonly lateAcks = new Map<JsMsg, () => Promise<void>>();
  private readonly lanes: KeyedLanes;
  /**
   * Acks, sent together at the end of the event-loop turn: the nats client writes each microtask's
   * queue as one socket write, and a pipeline awaits several times, so acks sent one by one cost a
   * syscall each (bench:brokers NATS: +28% together). Delayed by a turn, never lost: a crash before
   * they go out means a redelivery after ack_wait.
   */
  private readonly acks: BatchedAcks<JsMsg>;
  private readonly roomFreed = new Signal();
  private readonly messagesQueued = new Signal();
  private readonly loops: Promise<void>[];
  /** The pull request being read. */
  private pull: ConsumerMessages | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly prefetch: number;

  constructor(private readonly context: SubscriptionContext) {
    const { concurrency, prefetch } = context.request;
    this.prefetch = Math.max(1, prefetch);
    this.lanes = new KeyedLanes(Math.max(1, Math.min(concurrency, this.prefetch)));
    this.acks = new BatchedAcks<JsMsg>({
      write: async (messages) => messages.forEach((message) => message.ack()),
      chunk: this.prefetch,
      onError: (error, what) => context.logger.warn({ err: error, group: context.request.group }, `NATS: failed ${what}`),
    });
    this.heartbeat = setInterval(() => this.inProgress.forEach((message) => message.working()), ACK_WAIT_MS / 3);
    this.heartbeat.unref();
    const fetching = this.fetchLoop();
    this.loops = [fetching, this.dispatchLoop(fetching)];
  }

  async stop(): Promise<void> {
    this.running = false;
    this.roomFreed.notify();
    this.messagesQueued.notify();
    // Held messages are back on the server already; their redelivery goes to whoever consumes next.
    for (const wait of this.held.values()) wait.resolve(undefined);
    this.held.clear();
    const closing = setTimeout(() => void this.pull?.close(), FETCH_EXPIRES_MS + STOP_GRACE_MS);
    await Promise.all(this.loops);
    clearTimeout(closing);
    await this.lanes.idle();
    // Never acknowledged: back to the server now, for the next consumer, rather than after ack_wait.
    await Promise.all([...this.lateAcks.values()].map((handBack) => handBack()));
    // Before the connection may close (its drain sends what the client has queued, not what waits here).
    await this.acks.flushed();
    clearInterval(this.heartbeat);
  }

  private async fetchLoop(): Promise<void> {
    const { js, request, logger } = this.context;
    const stream = destinationStream(request.destination);
    let failures = 0;
    let consumer: Consumer | undefined;
    while (this.running) {
      // Refill in batches (half the prefetch at least) rather than one pull request per settled message.
      const room = this.prefetch - this.unsettled;
      if (room <= 0 || (room < Math.ceil(this.prefetch / 2) && this.unsettled > 0)) {
        await this.roomFreed.wait();
        continue;
      }
      try {
        consumer ??= await js.consumers.get(stream, this.context.consumer());
        if (!this.running) break;
        this.pull = await consumer.fetch({ max_messages: room, expires: FETCH_EXPIRES_MS });
        try {
          // Read to its end even when stopping: what arrives then is handed back once it has ended.
          for await (const message of this.pull) this.route(message);
        } finally {
          this.pull = undefined;
        }
        failures = 0;
      } catch (error) {
        if (!this.running) break;
        consumer = undefined;
        failures++;
        logger.warn({ stream, group: request.group, error: (error as Error).message, failures }, 'NATS fetch failed; retrying');
        await this.context.ensureConsumer().catch(() => undefined);
        await sleep(Math.min(MAX_BACKOFF_MS, 100 * 2 ** failures));
      }
    }
  }

  /** Where a fetched message goes: back to the server, to a lane waiting for its redelivery, or to the queue. */
  private route(message: JsMsg): void {
    if (!this.running) return void this.arrivedWhileStopping.push(message);
    if (!this.addressedToUs(message.subject)) return message.ack();
    this.unsettled++;
    this.inProgress.add(message);
    const waiting = this.held.get(message.info.streamSequence);
    if (waiting) {
      this.held.delete(message.info.streamSequence);
      return waiting.resolve(message);
    }
    this.pending.push(message);
    this.messagesQueued.notify();
  }

  /** On a topic, a retried dead letter addressed to another group is not ours. */
  private addressedToUs(messageSubject: string): boolean {
    const { destination, group } = this.context.request;
    return destination.kind === 'queue' || messageSubject === subject('topic', destination.name) || messageSubject === groupSubject(destination.name, group);
  }

  private async dispatchLoop(fetching: Promise<void>): Promise<void> {
    for (;;) {
      if (!this.running) {
        // Not started: given back, so the next consumer gets them without waiting for ack_wait; once the
        // pull in flight has ended, or the server would hand them straight back to it.
        await fetching;
        for (const message of this.pending.splice(0)) this.release(message, () => message.nak());
        for (const message of this.arrivedWhileStopping.splice(0)) message.nak();
        return;
      }
      const message = this.pending.shift();
      if (!message) {
        await this.messagesQueued.wait();
        continue;
      }
      const key = message.headers?.get(KEY_HEADER) || undefined;
      await this.lanes.submit(key, () => this.handle(message, key));
    }
  }

  private async handle(first: JsMsg, key: string | undefined): Promise<void> {
    const hold = this.context.request.destination.kind === 'topic' && key !== undefined;
    let message: JsMsg | undefined = first;
    while (message) {
      const retried = await this.deliverOnce(message, key, hold);
      if (!retried || !hold) return;
      message = await this.held.get(message.info.streamSequence)?.promise;
    }
  }

  /** Runs the pipeline on one delivery; true when it asked for a retry. */
  private async deliverOnce(message: JsMsg, key: string | undefined, hold: boolean): Promise<boolean> {
    const { logger, request } = this.context;
    let settled = false;
    let retried = false;
    const settle = async (how: () => void | Promise<unknown>): Promise<void> => {
      if (settled) return;
      settled = true;
      this.lateAcks.delete(message);
      await this.release(message, how);
    };
    const retry = async (delayMs: number): Promise<void> => {
      retried = true;
      const seq = message.info.streamSequence;
      if (hold && this.running) this.held.set(seq, deferred(delayMs + ACK_WAIT_MS, () => this.held.delete(seq)));
      await settle(() => message.nak(delayMs));
    };
    const delivery: Delivery = {
      headers: fromNatsHeaders(message.headers),
      body: Buffer.from(message.data),
      attempt: message.info.deliveryCount,
      ...(key !== undefined ? { key } : {}),
      // A plain ack, not ackAck: waiting for the server's confirmation is a request per message (an
      // inbox, a timer, error objects) and halves throughput. An ack that is lost (a connection drop)
      // only means the server redelivers the message after ack_wait: at least once, never lost. Sent
      // with the others of this event-loop turn (`acks`).
      ack: () => settle(() => this.acks.ack(message)),
      retry,
      deadLetter: async (info) => {
        await this.context.deadLetter(message, info);
        await settle(() => message.ackAck());
      },
    };
    try {
      await this.context.deliver(delivery);
    } catch (error) {
      logger.error({ group: request.group, error: (error as Error).message }, 'delivery failed outside the pipeline; redelivering');
      if (!settled) await retry(1_000);
      return retried;
    }
    // Not settled yet: a late ack (capabilities.lateAck) comes later, or stop() hands the message back.
    if (!settled) this.lateAcks.set(message, () => settle(() => message.nak()));
    return retried;
  }

  /**
   * Settles a message once. A failed ack (connection lost) is logged, not thrown: the server redelivers
   * the message after ack_wait, so work is at least once, never lost.
   */
  private async release(message: JsMsg, how: () => void | Promise<unknown>): Promise<void> {
    try {
      await how();
    } catch (error) {
      this.context.logger.warn({ seq: message.info.streamSequence, error: (error as Error).message }, 'NATS settle failed; the server will redeliver');
    } finally {
      this.inProgress.delete(message);
      this.unsettled--;
      this.roomFreed.notify();
    }
  }
}
