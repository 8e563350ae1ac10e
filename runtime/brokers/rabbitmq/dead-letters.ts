import { randomUUID } from 'node:crypto';
import type { Channel, GetMessage } from 'amqplib';
import { EdaflowError } from '../../errors/index.js';
import type { DeadLetter, DeadLetterInfo, DeadLetterOperations } from '../adapter.js';
import { readDeadLetterHeaders } from '../dead-letter.js';
import { closeQuietly, replyCode, sleep, type RabbitConnection } from './connection.js';
import type { ConfirmPublisher } from './publisher.js';
import { deaths, groupQueue, replayHeaders, toHeaders } from './wire.js';

const DLQ_HEADER_PREFIX = 'edaflow-dlq-';

/** One operation's channel, the count it started with, and how many messages it took out. */
interface Session {
  readonly channel: Channel;
  readonly pending: number;
  removed: number;
}

/**
 * AMQP 0-9-1 cannot browse a queue, so every operation reads with basic.get (no auto-ack), settles what
 * it must and closes its channel, which puts every other message it held back in the queue in place.
 * While one operation runs, the messages it holds are invisible to another.
 */
export function createDeadLetterOperations(connection: RabbitConnection, publisher: ConfirmPublisher): DeadLetterOperations {
  const withDeadLetters = async <T>(queue: string, work: (session: Session) => Promise<T>): Promise<T> => {
    const channel = await connection.channel();
    let session: Session | undefined;
    try {
      const { messageCount } = await channel.checkQueue(queue);
      session = { channel, pending: messageCount, removed: 0 };
      return await work(session);
    } catch (error) {
      if (replyCode(error) === 404) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no dead-letter queue ${queue} on broker ${connection.brokerName}`, { cause: error });
      throw error;
    } finally {
      await closeQuietly(channel);
      if (session) await released(queue, session.pending - session.removed);
    }
  };

  /**
   * A quorum queue takes back the messages of a closed channel asynchronously: wait (briefly) until they
   * count again, so a `count` or `list` right after an operation sees them.
   */
  const released = async (queue: string, expected: number): Promise<void> => {
    const deadline = Date.now() + 2_000;
    while (expected > 0 && Date.now() < deadline) {
      const { messageCount } = await (await connection.adminChannel()).checkQueue(queue);
      if (messageCount >= expected) return;
      await sleep(20);
    }
  };

  const remove = (session: Session, message: GetMessage): void => {
    session.channel.ack(message);
    session.removed++;
  };

  /** Reads up to `limit` messages; replaying ones are bounded by the count at the start, so they cannot loop. */
  const read = async function* (channel: Channel, queue: string, limit: number): AsyncGenerator<GetMessage> {
    for (let n = 0; n < limit; n++) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) return;
      yield message;
    }
  };

  /** Back to the origin queue via the default exchange: for a topic, only the group that failed it. */
  const replay = async (session: Session, message: GetMessage): Promise<void> => {
    const info = letterInfo(message);
    const target = info.origin.kind === 'topic' ? groupQueue(info.origin.name, info.group) : info.origin.name;
    const headers = replayHeaders(message.properties.headers as Record<string, unknown> | undefined, (name) => !name.startsWith(DLQ_HEADER_PREFIX));
    const contentType = message.properties.contentType as unknown;
    await publisher.send([{
      exchange: '', routingKey: target, content: message.content,
      options: { headers, persistent: true, mandatory: true, messageId: randomUUID(), ...(typeof contentType === 'string' ? { contentType } : {}) },
    }]);
    remove(session, message);
  };

  return {
    // Nothing is acknowledged, so reading until the queue is empty cannot loop.
    list: (queue, options) => withDeadLetters(queue, async ({ channel }) => {
      const letters: DeadLetter[] = [];
      for await (const message of read(channel, queue, options?.limit ?? 100)) letters.push(toDeadLetter(queue, message));
      return letters;
    }),
    count: (queue) => withDeadLetters(queue, async ({ pending }) => pending),
    // Messages another operation just released return to a quorum queue asynchronously: a few passes.
    retry: async (queue, id) => {
      for (let pass = 1; pass <= 5; pass++) {
        const found = await withDeadLetters(queue, async (session) => {
          for await (const message of read(session.channel, queue, Infinity)) if (letterId(message) === id) return replay(session, message).then(() => true);
          return false;
        });
        if (found) return;
        await sleep(100 * pass);
      }
      throw new EdaflowError('EDA_UNKNOWN_TYPE', `no message ${id} in ${queue} on broker ${connection.brokerName}`);
    },
    retryAll: (queue) => withDeadLetters(queue, async (session) => {
      for await (const message of read(session.channel, queue, session.pending)) await replay(session, message);
      return session.removed;
    }),
    purge: (queue, options) => withDeadLetters(queue, async (session) => {
      if (options?.olderThanMs === undefined) return (session.removed = (await session.channel.purgeQueue(queue)).messageCount);
      const cutoff = Date.now() - options.olderThanMs;
      for await (const message of read(session.channel, queue, session.pending)) if (failedAt(message) <= cutoff) remove(session, message);
      return session.removed;
    }),
  };
}

function letterId(message: GetMessage): string {
  return String(message.properties.messageId ?? toHeaders(message.properties)['cloudEvents:id'] ?? message.fields.deliveryTag);
}

function toDeadLetter(queue: string, message: GetMessage): DeadLetter {
  return { id: letterId(message), deadLetterDestination: queue, headers: toHeaders(message.properties), body: message.content, info: letterInfo(message) };
}

/**
 * The pipeline's metadata, or, for a message RabbitMQ dead-lettered itself (`x-delivery-limit` reached,
 * or the queue's message TTL), what its `x-death` record tells.
 */
function letterInfo(message: GetMessage): DeadLetterInfo {
  const info = readDeadLetterHeaders(toHeaders(message.properties));
  if (info) return info;
  const [death] = deaths(message.properties.headers as Record<string, unknown> | undefined);
  const reason = String(death?.reason ?? 'unknown');
  return {
    reason: reason === 'expired' ? 'expired' : 'failed',
    error: `dead-lettered by RabbitMQ (${reason === 'rejected' || reason === 'delivery_limit' ? 'delivery limit reached' : reason})`,
    attempts: Number((message.properties.headers as Record<string, unknown> | undefined)?.['x-delivery-count'] ?? 0) || 0,
    origin: { kind: 'queue', name: String(death?.queue ?? '') },
    group: '',
    failedAt: new Date(deathTime(death?.time) ?? Date.now()).toISOString(),
  };
}

function deathTime(time: unknown): number | undefined {
  const seconds = typeof time === 'object' && time !== null ? Number((time as { value?: unknown }).value) : Number(time);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

function failedAt(message: GetMessage): number {
  const at = Date.parse(letterInfo(message).failedAt);
  return Number.isFinite(at) ? at : Date.now();
}
