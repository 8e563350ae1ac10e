import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityCommand, DeleteMessageBatchCommand, DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../../observability/logger.js';
import type { DeadLetterInfo, Delivery, SubscribeRequest, Subscription } from '../adapter.js';
import { deadLetterHeaders } from '../dead-letter.js';
import { BatchedAcks } from '../batched-acks.js';
import { KeyedLanes } from '../keyed-lanes.js';
import { sendAll } from './send.js';
import { changeVisibility } from './visibility.js';
import { fromMessage } from './wire.js';

export interface ConsumerSettings {
  /** Long-poll wait of each ReceiveMessage (0–20 s). Stopping waits for the poll in flight, so keep it short where fast shutdown matters. */
  readonly waitTimeSeconds: number;
  /** Visibility of a received message; extended every third of it while the message is held, so any handler timeout is covered. */
  readonly leaseSeconds: number;
}

/**
 * ChangeMessageVisibility's ceiling: 12 hours (counted by AWS from the first receive). A longer retry
 * delay is cut to it — the one case where a delay is shortened; definitions for SQS should keep
 * `maxDelay` at or below 12h.
 */
const MAX_VISIBILITY_SECONDS = 12 * 3600;
const MAX_RECEIVE = 10;

export interface QueueConsumerContext {
  readonly client: SQSClient;
  readonly logger: Logger;
  readonly settings: ConsumerSettings;
  readonly queueUrl: string;
  /** URL of the group's dead-letter queue, or null when dead-lettering is off. */
  readonly deadLetterUrl: string | null;
}

/**
 * Competing consumer of one queue. Holds at most `prefetch` received messages (each kept invisible by
 * a heartbeat until it settles) and runs up to `concurrency` of them at once. The attempt is SQS's
 * ApproximateReceiveCount, so it survives a consumer crash; retry(delay) is ChangeMessageVisibility;
 * acks are deleted in batches (BatchedAcks).
 */
export class QueueConsumer implements Subscription {
  private running = true;
  /** Receipt handles of the messages received and not yet settled. */
  private readonly held = new Set<string>();
  private readonly lanes: KeyedLanes;
  /** Acks: DeleteMessageBatch of up to 10, with what was acked while the last one ran (SQS bills per request). */
  private readonly deletes: BatchedAcks<string>;
  private readonly stopping = new AbortController();
  private readonly heartbeat: NodeJS.Timeout;
  private beating: Promise<void> = Promise.resolve();
  private settledOne?: () => void;
  private readonly loop: Promise<void>;

  constructor(private readonly context: QueueConsumerContext, private readonly request: SubscribeRequest, private readonly deliver: (delivery: Delivery) => Promise<void>) {
    this.lanes = new KeyedLanes(Math.max(1, Math.min(request.concurrency, request.prefetch)));
    this.deletes = new BatchedAcks({
      write: (receipts) => deleteMessages(context, receipts), chunk: MAX_BATCH, parallel: 5,
      onError: (error, what) => context.logger.warn({ err: error, queue: request.destination.name }, `SQS: failed ${what}`),
    });
    this.heartbeat = setInterval(() => void (this.beating = this.extendHeld()), (context.settings.leaseSeconds * 1000) / 3).unref();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.settledOne?.();
    await this.loop;
    await this.lanes.idle();
    await this.deletes.flushed();
    clearInterval(this.heartbeat);
    await this.beating;
  }

  private async run(): Promise<void> {
    for (let failures = 0; this.running; ) {
      const room = Math.min(MAX_RECEIVE, this.request.prefetch - this.held.size);
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.settledOne = resolve));
        continue;
      }
      let messages: Message[];
      try {
        messages = await this.receive(room);
        failures = 0;
      } catch (error) {
        // The broker is down or restarting: keep polling with backoff; held messages reappear after their lease.
        failures++;
        this.context.logger.warn({ err: error, queue: this.request.destination.name, failures }, 'SQS receive failed; retrying');
        await sleep(Math.min(30_000, 250 * 2 ** failures), undefined, { signal: this.stopping.signal }).catch(() => undefined);
        continue;
      }
      await this.dispatch(messages);
    }
  }

  private async receive(room: number): Promise<Message[]> {
    // Not aborted on stop: messages the server hands to an aborted poll would stay invisible for a lease.
    const result = await this.context.client.send(new ReceiveMessageCommand({
      QueueUrl: this.context.queueUrl,
      MaxNumberOfMessages: room,
      WaitTimeSeconds: this.context.settings.waitTimeSeconds,
      VisibilityTimeout: this.context.settings.leaseSeconds,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }));
    const messages = (result.Messages ?? []).filter((message) => message.ReceiptHandle);
    for (const message of messages) this.held.add(message.ReceiptHandle!);
    return messages;
  }

  private async dispatch(messages: readonly Message[]): Promise<void> {
    for (const [index, message] of messages.entries()) {
      if (!this.running) return this.release(messages.slice(index));
      await this.lanes.submit(undefined, () => this.handle(message));
    }
  }

  /** Gives back messages received but not started (at shutdown): visible again at once, for the next consumer. */
  private async release(messages: readonly Message[]): Promise<void> {
    for (const message of messages) this.held.delete(message.ReceiptHandle!);
    await changeVisibility(this.context.client, this.context.queueUrl, messages.map((message) => message.ReceiptHandle!), 0).catch((error: unknown) => this.context.logger.warn({ err: error }, 'SQS release failed; the messages reappear after their lease'));
  }

  private async handle(message: Message): Promise<void> {
    try {
      await this.deliver(this.delivery(message));
    } catch (error) {
      // Unsettled (e.g. the broker was unreachable): SQS redelivers it once its lease runs out.
      this.context.logger.error({ err: error, messageId: message.MessageId }, 'SQS delivery failed to settle');
    } finally {
      this.forget(message.ReceiptHandle!);
    }
  }

  private delivery(message: Message): Delivery {
    const { client, queueUrl, deadLetterUrl } = this.context;
    const receipt = message.ReceiptHandle!;
    const { headers, body, key } = fromMessage(message);
    const remove = async (): Promise<void> => void (await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receipt })));
    return {
      headers,
      body,
      attempt: Math.max(1, Number(message.Attributes?.ApproximateReceiveCount ?? 1)),
      ...(key !== undefined ? { key } : {}),
      ack: () => this.settle(receipt, async () => this.deletes.ack(receipt)),
      retry: (delayMs) =>
        // SQS counts visibility in whole seconds: a delay is rounded up, not down.
        this.settle(receipt, async () => void (await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receipt, VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(delayMs / 1000)) })))),
      deadLetter: (info: DeadLetterInfo) =>
        this.settle(receipt, async () => {
          // Send first, then delete: a crash in between leaves a duplicate, never a loss (at-least-once).
          if (deadLetterUrl !== null) await sendAll(client, deadLetterUrl, [{ headers: { ...headers, ...deadLetterHeaders(info) }, body, key }]);
          await remove();
        }),
    };
  }

  /** Stops the heartbeat for this message before changing it, so a late heartbeat cannot undo a retry delay. */
  private async settle(receipt: string, action: () => Promise<void>): Promise<void> {
    this.forget(receipt);
    await this.beating;
    await action();
  }

  private forget(receipt: string): void {
    if (this.held.delete(receipt)) this.settledOne?.();
  }

  private async extendHeld(): Promise<void> {
    await changeVisibility(this.context.client, this.context.queueUrl, [...this.held], this.context.settings.leaseSeconds).catch((error: unknown) => this.context.logger.warn({ err: error }, 'SQS lease extension failed'));
  }
}

/** SQS's limit on the entries of one batch request. */
const MAX_BATCH = 10;

/**
 * Deletes received messages in one request. A receipt SQS refuses (its lease ran out, so another
 * consumer may hold the message now) is logged, not retried: the message comes back, at least once.
 */
async function deleteMessages(context: QueueConsumerContext, receipts: string[]): Promise<void> {
  const result = await context.client.send(new DeleteMessageBatchCommand({
    QueueUrl: context.queueUrl,
    Entries: receipts.map((receipt, index) => ({ Id: String(index), ReceiptHandle: receipt })),
  }));
  for (const failure of result.Failed ?? []) context.logger.warn({ code: failure.Code, error: failure.Message }, 'SQS refused to delete an acknowledged message; it will be delivered again');
}
