import { JetStreamApiCodes, type JetStreamManager, type MsgRequest, type StoredMsg } from '@nats-io/jetstream';
import { EdaflowError } from '../../errors/index.js';
import type { DeadLetter, DeadLetterInfo, DeadLetterOperations } from '../adapter.js';
import { readDeadLetterHeaders, withoutDeadLetterHeaders } from '../dead-letter.js';
import { isNotFound } from './provision.js';
import { asUnavailable, destinationStream, fromNatsHeaders, groupSubject, streamName, subject } from './wire.js';
import type { StreamMessage } from './publisher.js';

export type PublishDurably = (stream: string, messages: readonly StreamMessage[]) => Promise<void>;

/**
 * `edaflow dlq ...` over a dead-letter stream. A dead letter's id is its stream sequence. Retry goes
 * back to the origin: on a topic to the failing group only (its `.to.<group>` subject).
 */
export function natsDeadLetterOperations(jsm: () => JetStreamManager, publishDurably: PublishDurably, broker: string): DeadLetterOperations {
  const guard = async <T>(name: string, operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      if (isNotFound(error, JetStreamApiCodes.StreamNotFound)) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no dead-letter destination ${name} on broker ${broker}`, { cause: error });
      throw asUnavailable(error, `a dead-letter operation on ${name}`);
    }
  };

  /** Walks the stream in sequence order, skipping deleted messages (server 2.9 supports `next_by_subj`). */
  async function* scan(name: string): AsyncGenerator<StoredMsg> {
    const stream = streamName('dlq', name);
    for (let seq = 1; ; ) {
      const message = await jsm().streams.getMessage(stream, { seq, next_by_subj: subject('dlq', name) } as unknown as MsgRequest);
      if (!message) return;
      yield message;
      seq = message.seq + 1;
    }
  }

  const toDeadLetter = (name: string, message: StoredMsg): DeadLetter => {
    const headers = fromNatsHeaders(message.header);
    return { id: String(message.seq), deadLetterDestination: name, headers, body: Buffer.from(message.data), info: readDeadLetterHeaders(headers) ?? unknownInfo(message) };
  };

  const retryOne = async (name: string, message: StoredMsg): Promise<void> => {
    const headers = fromNatsHeaders(message.header);
    const info = readDeadLetterHeaders(headers);
    if (!info) throw new EdaflowError('EDA_UNKNOWN_TYPE', `message ${message.seq} in ${name} has no dead-letter metadata`);
    const target = info.origin.kind === 'topic' ? groupSubject(info.origin.name, info.group) : subject('queue', info.origin.name);
    const msgId = `retry.${streamName('dlq', name)}.${message.seq}`;
    await publishDurably(destinationStream(info.origin), [{ subject: target, headers: withoutDeadLetterHeaders(headers), body: message.data, msgId }]);
    await jsm().streams.deleteMessage(streamName('dlq', name), message.seq);
  };

  return {
    list: (name, options) => guard(name, async () => {
      const letters: DeadLetter[] = [];
      const limit = options?.limit ?? 100;
      for await (const message of scan(name)) {
        if (letters.length >= limit) break;
        letters.push(toDeadLetter(name, message));
      }
      return letters;
    }),
    count: (name) => guard(name, async () => (await jsm().streams.info(streamName('dlq', name))).state.messages),
    retry: (name, id) => guard(name, async () => {
      const message = await jsm().streams.getMessage(streamName('dlq', name), { seq: Number(id) });
      if (!message) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no message ${id} in ${name}`);
      await retryOne(name, message);
    }),
    retryAll: (name) => guard(name, async () => {
      let count = 0;
      for await (const message of scan(name)) {
        await retryOne(name, message);
        count++;
      }
      return count;
    }),
    purge: (name, options) => guard(name, async () => {
      const stream = streamName('dlq', name);
      if (options?.olderThanMs === undefined) return (await jsm().streams.purge(stream)).purged;
      // Messages are in arrival order: purge everything below the first one young enough to keep.
      const cutoff = Date.now() - options.olderThanMs;
      for await (const message of scan(name)) {
        if (message.time.getTime() > cutoff) return (await jsm().streams.purge(stream, { seq: message.seq })).purged;
      }
      return (await jsm().streams.purge(stream)).purged;
    }),
  };
}

function unknownInfo(message: StoredMsg): DeadLetterInfo {
  return { reason: 'failed', error: 'no dead-letter metadata', attempts: 0, origin: { kind: 'queue', name: '' }, group: '', failedAt: message.time.toISOString() };
}

