import type { ConfirmChannel, Message, Options } from 'amqplib';
import { EdaflowError, isEdaflowError } from '../../errors/index.js';
import { replyCode, sleep, type RabbitConnection } from './connection.js';

export interface Outgoing {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  /** `messageId` is required: it matches a basic.return to the message. */
  readonly options: Options.Publish & { readonly messageId: string };
}

/** How long a publish keeps retrying across a connection loss before it gives up. */
const PUBLISH_DEADLINE_MS = 60_000;

/**
 * Publishes on one confirm channel: a batch is written at once (waiting for 'drain' when the socket
 * buffer is full), then each message's confirm is awaited, so `send` resolves only once RabbitMQ has
 * stored every message (persistent, on a quorum queue: on a quorum of disks). After a connection loss it
 * reconnects and re-sends from the first unconfirmed message, in order: at-least-once, the consumer's
 * dedup by CloudEvents id absorbs the possible duplicates.
 */
export class ConfirmPublisher {
  private channel: Promise<ConfirmChannel> | undefined;
  /** Message ids returned as unroutable (`mandatory` publishes to a queue that does not exist). */
  private readonly returned = new Set<string>();
  /** Why the broker closed a channel (e.g. 404 for a missing exchange): confirms only say "closed". */
  private readonly closedBy = new WeakMap<ConfirmChannel, Error>();

  constructor(private readonly connection: RabbitConnection) {}

  async send(messages: readonly Outgoing[]): Promise<void> {
    const deadline = Date.now() + PUBLISH_DEADLINE_MS;
    let next = 0;
    for (let failures = 0; next < messages.length; failures++) {
      try {
        next += await this.sendBatch(messages.slice(next), deadline);
      } catch (error) {
        const confirmed = (error as { confirmed?: number }).confirmed ?? 0;
        next += confirmed;
        if (!retriable(error) || Date.now() >= deadline) throw publishError(this.connection, error);
        await sleep(Math.min(100 * 2 ** Math.min(failures, 5), 2_000));
      }
    }
  }

  /** Resolves with the count sent; on failure throws with `confirmed` = the in-order confirmed prefix. */
  private async sendBatch(batch: readonly Outgoing[], deadline: number): Promise<number> {
    const channel = await withDeadline(this.open(), deadline);
    const confirms: Promise<void>[] = [];
    for (const message of batch) {
      let more = true;
      confirms.push(new Promise<void>((resolve, reject) => {
        more = channel.publish(message.exchange, message.routingKey, message.content, message.options, (error) => (error ? reject(toError(error)) : resolve()));
      }));
      if (!more) await drained(channel);
    }
    const outcomes = await Promise.allSettled(confirms);
    const firstFailure = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    const unroutable = batch.find((message) => this.returned.delete(message.options.messageId));
    if (unroutable) throw new EdaflowError('EDA_UNKNOWN_TYPE', `queue ${unroutable.routingKey} does not exist on broker ${this.connection.brokerName}; provision it first`);
    if (firstFailure < 0) return batch.length;
    const failure = this.closedBy.get(channel) ?? ((outcomes[firstFailure] as PromiseRejectedResult).reason as Error);
    throw Object.assign(failure, { confirmed: Math.min(firstFailure, batch.length) });
  }

  private open(): Promise<ConfirmChannel> {
    if (!this.channel) {
      const opening = this.connection.confirmChannel();
      this.channel = opening;
      opening.then(
        (channel) => {
          channel.on('return', (message: Message) => this.returned.add(String(message.properties.messageId)));
          channel.on('error', (error: Error) => this.closedBy.set(channel, error));
          channel.once('close', () => this.channel === opening && (this.channel = undefined));
        },
        () => (this.channel = undefined),
      );
    }
    return this.channel;
  }

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    await channel?.then((c) => c.close()).catch(() => undefined);
  }
}

function drained(channel: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      channel.off('drain', done);
      channel.off('close', done);
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
  });
}

async function withDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the broker stayed unreachable')), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error ?? 'message nacked by the broker'));
}

/** A lost connection or channel, or a nack, may pass; a missing exchange (404) or our own errors not. */
function retriable(error: unknown): boolean {
  return !isEdaflowError(error) && replyCode(error) !== 404;
}

function publishError(connection: RabbitConnection, error: unknown): EdaflowError {
  if (isEdaflowError(error)) return error;
  if (replyCode(error) === 404) return new EdaflowError('EDA_UNKNOWN_TYPE', `broker ${connection.brokerName}: ${(error as Error).message}; provision the topic first`, { cause: error });
  return new EdaflowError('EDA_BROKER_UNAVAILABLE', `broker ${connection.brokerName} (${connection.server}): publish not confirmed: ${(error as Error).message}`, { cause: error });
}
