import { randomUUID } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import { EdaflowError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import type { DeadLetterInfo, Delivery, SubscribeRequest, Subscription } from '../adapter.js';
import { deadLetterHeaders } from '../dead-letter.js';
import { KeyedLanes } from '../keyed-lanes.js';
import { ChannelAcks } from './acks.js';
import { closeQuietly, replyCode, sleep, type RabbitConnection } from './connection.js';
import { ensureRetryQueue } from './provision.js';
import type { ConfirmPublisher } from './publisher.js';
import { attemptOf, consumedQueue, KEY_HEADER, retryCopyHeaders, retryTier, toHeaders } from './wire.js';

export interface ConsumerContext {
  readonly connection: RabbitConnection;
  readonly publisher: ConfirmPublisher;
  readonly logger: Logger;
}

/**
 * One consumer on a group's queue (a topic's `<topic>.<group>`, or the queue itself). `prefetch` bounds
 * unacknowledged deliveries; KeyedLanes runs up to `concurrency` of them at once, one at a time per key.
 *
 * Order: the group queue has a single active consumer and delivers in publish order, and the lanes keep
 * that order per key, so per-key order holds for first deliveries. A retried message comes back through
 * the retry queue behind later messages of its key (RabbitMQ has no way to hold a key back); and after a
 * reconnection the unacknowledged messages are redelivered (at-least-once).
 */
export class RabbitSubscription implements Subscription {
  private running = true;
  private channel: Channel | undefined;
  /** The acks of the current channel (a re-opened channel starts afresh: the old one's deliveries are requeued). */
  private acks: ChannelAcks | undefined;
  private consumerTag: string | undefined;
  private reopening: Promise<void> | undefined;
  /** Channels that died: their unsettled messages are already back in the queue. */
  private readonly closed = new WeakSet<Channel>();
  /** Submissions chained, so messages enter the lanes in delivery order. */
  private feed: Promise<void> = Promise.resolve();
  private readonly lanes: KeyedLanes;
  private readonly queue: string;

  constructor(private readonly context: ConsumerContext, private readonly request: SubscribeRequest, private readonly deliver: (delivery: Delivery) => Promise<void>) {
    this.lanes = new KeyedLanes(Math.max(1, Math.min(request.concurrency, request.prefetch)));
    this.queue = consumedQueue(request.destination, request.group);
  }

  async start(): Promise<void> {
    try {
      await this.open();
    } catch (error) {
      this.running = false;
      const code = replyCode(error) === 404 ? 'EDA_UNKNOWN_TYPE' : 'EDA_BROKER_UNAVAILABLE';
      throw new EdaflowError(code, `broker ${this.context.connection.brokerName}: cannot consume ${this.queue}: ${(error as Error).message}`, { cause: error });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    const channel = this.channel;
    if (channel && this.consumerTag) await channel.cancel(this.consumerTag).catch(() => undefined);
    // A pending re-open is not awaited (the broker may be down): it closes what it opens once stopped.
    await this.feed;
    await this.lanes.idle();
    this.acks?.flush();
    // Closing the channel hands deliveries that never started back to the queue, for the next consumer.
    await closeQuietly(this.channel);
  }

  private async open(): Promise<void> {
    const channel = await this.context.connection.channel();
    const acks = new ChannelAcks(channel);
    this.channel = channel;
    this.acks = acks;
    channel.once('close', () => {
      this.closed.add(channel);
      if (this.channel === channel && this.running) void this.reopen();
    });
    await channel.prefetch(Math.max(1, this.request.prefetch));
    const { consumerTag } = await channel.consume(this.queue, (message) => (message ? this.receive(channel, acks, message) : this.cancelled()), { noAck: false });
    this.consumerTag = consumerTag;
  }

  /** A lost channel or connection: consume again once the connection is back (amqplib reconnects it). */
  private reopen(): Promise<void> {
    this.reopening ??= (async () => {
      for (let failures = 0; this.running; failures++) {
        try {
          await this.open();
          if (!this.running) await closeQuietly(this.channel);
          return;
        } catch (error) {
          this.context.logger.warn({ queue: this.queue, error: (error as Error).message }, 'rabbitmq consumer could not resume; retrying');
          await sleep(Math.min(200 * 2 ** Math.min(failures, 5), 5_000));
        }
      }
    })().finally(() => (this.reopening = undefined));
    return this.reopening;
  }

  /** RabbitMQ cancelled the consumer (its queue was deleted): nothing to resume until it is provisioned. */
  private cancelled(): void {
    this.context.logger.warn({ queue: this.queue }, 'rabbitmq cancelled the consumer; was the queue deleted?');
  }

  private receive(channel: Channel, acks: ChannelAcks, message: ConsumeMessage): void {
    acks.received(message);
    if (!this.running) return;
    const key = this.request.destination.kind === 'topic' ? keyOf(message) : undefined;
    this.feed = this.feed.then(() =>
      this.lanes.submit(key, async () => {
        // Stopped before it started: left unacknowledged, it returns to the queue when the channel closes;
        // its channel died: the broker has requeued it already.
        if (!this.running || this.closed.has(channel)) return;
        await this.deliver(this.delivery(channel, acks, message)).catch((error: unknown) => {
          // Settling failed (say, the retry copy could not be confirmed): hand it back for redelivery.
          this.context.logger.error({ queue: this.queue, error: (error as Error).message }, 'delivery could not be settled; requeued');
          acks.nack(message);
        });
      }),
    );
  }

  private delivery(channel: Channel, acks: ChannelAcks, message: ConsumeMessage): Delivery {
    const headers = message.properties.headers as Record<string, unknown> | undefined;
    const attempt = attemptOf(headers, this.queue);
    const key = keyOf(message);
    const ack = async (): Promise<void> => acks.ack(message);
    return {
      headers: toHeaders(message.properties),
      body: message.content,
      attempt,
      ...(key !== undefined ? { key } : {}),
      ack,
      // When the channel died under the handler the broker redelivers the original: no copy, or it would
      // be handled twice.
      retry: async (delayMs) => {
        if (!this.closed.has(channel)) await this.retryLater(message, attempt, delayMs);
        await ack();
      },
      deadLetter: async (info) => {
        if (!this.closed.has(channel)) await this.toDeadLetter(message, info);
        await ack();
      },
    };
  }

  /** A confirmed copy in the retry queue with a per-message TTL; the broker dead-letters it back here. */
  private async retryLater(message: ConsumeMessage, attempt: number, delayMs: number): Promise<void> {
    const tier = retryTier(delayMs);
    const retryQueue = await ensureRetryQueue(this.context.connection, this.queue, tier);
    const headers = retryCopyHeaders(message.properties.headers as Record<string, unknown> | undefined, attempt);
    await this.context.publisher.send([{
      exchange: '',
      routingKey: retryQueue,
      content: message.content,
      options: { ...copyProperties(message), headers, expiration: String(Math.max(0, Math.round(delayMs))), messageId: String(message.properties.messageId ?? randomUUID()) },
    }]);
  }

  /** Confirmed in the dead-letter queue before the ack: a crash in between leaves a duplicate, never a loss. */
  private async toDeadLetter(message: ConsumeMessage, info: DeadLetterInfo): Promise<void> {
    if (this.request.deadLetter === null) return;
    const headers = { ...(message.properties.headers as Record<string, unknown> | undefined), ...deadLetterHeaders(info) };
    delete headers['x-delivery-count'];
    await this.context.publisher.send([{
      exchange: '',
      routingKey: this.request.deadLetter,
      content: message.content,
      // A fresh message id: the DLQ's handle on this letter (two letters may share a CloudEvents id).
      options: { ...copyProperties(message), headers, messageId: randomUUID(), timestamp: Math.floor(Date.now() / 1000), mandatory: true },
    }]);
  }
}

function keyOf(message: ConsumeMessage): string | undefined {
  const key = (message.properties.headers as Record<string, unknown> | undefined)?.[KEY_HEADER];
  return typeof key === 'string' ? key : Buffer.isBuffer(key) ? key.toString('utf8') : undefined;
}

function copyProperties(message: ConsumeMessage): { contentType?: string; persistent: true } {
  const contentType = message.properties.contentType as unknown;
  return { ...(typeof contentType === 'string' ? { contentType } : {}), persistent: true };
}

