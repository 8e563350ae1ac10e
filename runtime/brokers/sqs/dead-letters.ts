import {
  DeleteMessageCommand, ListDeadLetterSourceQueuesCommand, ReceiveMessageCommand, type Message, type SQSClient,
} from '@aws-sdk/client-sqs';
import { EdaflowError } from '../../errors/index.js';
import type { DeadLetter, DeadLetterInfo, DeadLetterOperations } from '../adapter.js';
import { readDeadLetterHeaders, withoutDeadLetterHeaders } from '../dead-letter.js';
import type { Queues } from './queues.js';
import { topicRefused } from './queues.js';
import { sendAll } from './send.js';
import { changeVisibility } from './visibility.js';
import { fromMessage } from './wire.js';
import { queueDepth } from './lag.js';

/**
 * How long a scan keeps the messages it has seen invisible. SQS cannot peek: reading a message means
 * receiving it, which hides it. A scan therefore receives until the queue answers empty (long-polling
 * 1 s, so a short poll's sampling cannot end it early), holding each message for this long so it is not
 * read twice, and then gives back what it did not remove (visibility 0). If the process dies mid-scan
 * the messages reappear after the hold. Receive counts on a DLQ mean nothing (it has no redrive policy),
 * and the id of a dead letter is its MessageId, which, unlike the receipt handle, never changes.
 */
const HOLD_SECONDS = 120;
const SCAN_WAIT_SECONDS = 1;

export function sqsDeadLetterOperations(client: SQSClient, queues: Queues, broker: string): DeadLetterOperations {
  /** Receives every message of `name` (up to `limit`, or until `found` holds), each once. */
  const scan = async (url: string, options: { limit?: number; found?: (message: Message) => boolean } = {}): Promise<Message[]> => {
    const seen = new Map<string, Message>();
    const limit = options.limit ?? Infinity;
    while (seen.size < limit) {
      const result = await client.send(new ReceiveMessageCommand({
        QueueUrl: url, MaxNumberOfMessages: Math.min(10, limit - seen.size), WaitTimeSeconds: SCAN_WAIT_SECONDS, VisibilityTimeout: HOLD_SECONDS,
        MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'],
      }));
      const batch = result.Messages ?? [];
      if (!batch.length) break;
      for (const message of batch) seen.set(message.MessageId!, message);
      if (options.found && batch.some(options.found)) break;
    }
    return [...seen.values()];
  };

  const release = (url: string, messages: readonly Message[]): Promise<void> => changeVisibility(client, url, messages.map((message) => message.ReceiptHandle!), 0);

  /** Scans, lets `act` remove some messages (returning the ones it removed), and gives the rest back. */
  const withScan = async <T>(name: string, options: Parameters<typeof scan>[1], act: (url: string, messages: Message[]) => Promise<{ removed: Set<Message>; result: T }>): Promise<T> => {
    const url = await queues.url(name);
    const messages = await scan(url, options);
    let removed = new Set<Message>();
    try {
      const outcome = await act(url, messages);
      removed = outcome.removed;
      return outcome.result;
    } finally {
      await release(url, messages.filter((message) => !removed.has(message)));
    }
  };

  /** The metadata edaflow wrote, or — for a message the server's RedrivePolicy moved — what SQS can tell. */
  const infoOf = async (url: string, message: Message): Promise<DeadLetterInfo> => {
    const written = readDeadLetterHeaders(fromMessage(message).headers);
    if (written) return written;
    const sources = (await client.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: url }))).queueUrls ?? [];
    const sourceArn = message.Attributes?.DeadLetterQueueSourceArn;
    const origin = sourceArn?.split(':').at(-1) ?? (sources.length === 1 ? sources[0]!.split('/').at(-1)! : '');
    return {
      reason: 'failed',
      error: 'moved by the SQS RedrivePolicy: received more often than maxReceiveCount without being settled (consumer crashes or timeouts)',
      attempts: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
      origin: { kind: 'queue', name: origin },
      group: '',
      failedAt: new Date(Number(message.Attributes?.SentTimestamp ?? 0)).toISOString(),
    };
  };

  const toDeadLetter = async (name: string, url: string, message: Message): Promise<DeadLetter> => {
    const { headers, body } = fromMessage(message);
    return { id: message.MessageId!, deadLetterDestination: name, headers, body, info: await infoOf(url, message) };
  };

  /** Back to the origin queue as a new message (attempts start again at 1), then out of the DLQ. */
  const restore = async (url: string, message: Message): Promise<void> => {
    const info = await infoOf(url, message);
    if (info.origin.kind === 'topic') throw topicRefused(broker, info.origin.name);
    if (!info.origin.name) throw new EdaflowError('EDA_UNKNOWN_QUEUE', `dead letter ${message.MessageId} names no origin queue`);
    const { headers, body, key } = fromMessage(message);
    await sendAll(client, await queues.url(info.origin.name), [{ headers: withoutDeadLetterHeaders(headers), body, key }]);
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle! }));
  };

  const restoreEach = async (url: string, messages: readonly Message[]): Promise<Set<Message>> => {
    const removed = new Set<Message>();
    for (const message of messages) {
      await restore(url, message);
      removed.add(message);
    }
    return removed;
  };

  return {
    list: (name, options) =>
      withScan(name, { limit: options?.limit ?? 100 }, async (url, messages) => ({ removed: new Set(), result: await Promise.all(messages.map((message) => toDeadLetter(name, url, message))) })),
    // Messages held by a concurrent scan are not visible, yet still waiting.
    count: (name) => queueDepth(queues, name),
    retry: (name, id) =>
      withScan(name, { found: (message) => message.MessageId === id }, async (url, messages) => {
        const message = messages.find((candidate) => candidate.MessageId === id);
        if (!message) throw new EdaflowError('EDA_UNKNOWN_QUEUE', `no message ${id} in dead-letter queue ${name}`);
        return { removed: await restoreEach(url, [message]), result: undefined };
      }),
    retryAll: (name) =>
      withScan(name, {}, async (url, messages) => {
        const removed = await restoreEach(url, messages);
        return { removed, result: removed.size };
      }),
    purge: (name, options) =>
      withScan(name, {}, async (url, messages) => {
        const cutoff = options?.olderThanMs === undefined ? Infinity : Date.now() - options.olderThanMs;
        const doomed = messages.filter((message) => Number(message.Attributes?.SentTimestamp ?? 0) <= cutoff);
        for (const message of doomed) await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle! }));
        return { removed: new Set(doomed), result: doomed.length };
      }),
  };
}
