import { randomUUID } from 'node:crypto';
import type { KafkaMessage, Message } from 'kafkajs';
import { EdaflowError } from '../../errors/index.js';
import type { DeadLetter, DeadLetterInfo, DeadLetterOperations } from '../adapter.js';
import { readDeadLetterHeaders, withoutDeadLetterHeaders } from '../dead-letter.js';
import { brokerError, record, stringHeaders, type KafkaContext } from './client.js';

/**
 * Dead letters on Kafka. Each dead-letter destination is a one-partition topic kept forever; a letter's
 * id is `partition:offset`. Kafka cannot delete a single record, only every record before an offset
 * (DeleteRecords), so a retried or purged letter is first recorded in a compacted side topic
 * `<dlq>.removed` (key = id); whenever the removed letters form an unbroken run from the start of the
 * log, the log start is moved past them with DeleteRecords and their markers are tombstoned, so both
 * topics stay small. list and count are the log minus the markers. Two operators retrying one letter
 * at the same moment may both republish it; consumers drop the copy by its message id.
 */
export function removedTopicOf(deadLetterDestination: string): string {
  return `${deadLetterDestination}.removed`;
}

interface Letter {
  readonly partition: number;
  readonly message: KafkaMessage;
}

const idOf = (letter: Letter): string => `${letter.partition}:${letter.message.offset}`;

export function createDeadLetterOperations(context: KafkaContext): DeadLetterOperations {
  const live = async (name: string): Promise<Letter[]> => {
    const removed = await removedIds(context, name);
    return (await readTopic(context, name)).filter((letter) => !removed.has(idOf(letter)));
  };
  const guarded = <A extends unknown[], R>(action: string, run: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    try {
      return await run(...args);
    } catch (error) {
      throw brokerError(context.name, action, error);
    }
  };
  return {
    list: guarded('listing dead letters', async (name: string, options?: { limit?: number }) =>
      (await live(name)).slice(0, options?.limit ?? 100).map((letter) => toDeadLetter(name, letter))),
    count: guarded('counting dead letters', async (name: string) => countLive(context, name)),
    retry: guarded('retrying a dead letter', async (name: string, id: string) => {
      const letter = (await live(name)).find((candidate) => idOf(candidate) === id);
      if (!letter) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no dead letter ${id} in ${name} on broker ${context.name}`);
      await republish(context, name, [letter]);
      await remove(context, name, [letter], 'retried');
    }),
    retryAll: guarded('retrying dead letters', async (name: string) => {
      const letters = await live(name);
      await republish(context, name, letters);
      await remove(context, name, letters, 'retried');
      return letters.length;
    }),
    purge: guarded('purging dead letters', async (name: string, options?: { olderThanMs?: number }) => {
      const cutoff = options?.olderThanMs === undefined ? Infinity : Date.now() - options.olderThanMs;
      const letters = (await live(name)).filter((letter) => Number(letter.message.timestamp) <= cutoff);
      await remove(context, name, letters, 'purged');
      return letters.length;
    }),
  };
}

function toDeadLetter(name: string, letter: Letter): DeadLetter {
  const headers = stringHeaders(letter.message.headers);
  return { id: idOf(letter), deadLetterDestination: name, headers, body: letter.message.value ?? Buffer.alloc(0), info: readDeadLetterHeaders(headers) ?? unknownOrigin(letter) };
}

/** A record someone else wrote to the dead-letter topic, without edaflow's metadata. */
function unknownOrigin(letter: Letter): DeadLetterInfo {
  const failedAt = new Date(Number(letter.message.timestamp)).toISOString();
  return { reason: 'failed', error: 'no dead-letter metadata', attempts: 0, origin: { kind: 'topic', name: '' }, group: '', failedAt };
}

/**
 * Back to the origin, with the same message id. On a topic Kafka cannot address one consumer group, so
 * every group of the topic receives it again; the groups that already handled it drop it by its id
 * (the pipeline's dedup), which is why retrying a topic's dead letter needs dedup on its other groups.
 */
async function republish(context: KafkaContext, name: string, letters: readonly Letter[]): Promise<void> {
  const byOrigin = new Map<string, Message[]>();
  for (const letter of letters) {
    const headers = stringHeaders(letter.message.headers);
    const info = readDeadLetterHeaders(headers);
    if (!info?.origin.name) throw new EdaflowError('EDA_UNKNOWN_TYPE', `dead letter ${idOf(letter)} in ${name} has no origin to go back to`);
    const messages = byOrigin.get(info.origin.name) ?? [];
    messages.push(record(withoutDeadLetterHeaders(headers), letter.message.value ?? Buffer.alloc(0), letter.message.key?.toString()));
    byOrigin.set(info.origin.name, messages);
  }
  for (const [origin, messages] of byOrigin) await context.send(origin, messages);
}

/** Marks letters removed, then moves the log start past the removed run at its head. */
async function remove(context: KafkaContext, name: string, letters: readonly Letter[], why: 'retried' | 'purged'): Promise<void> {
  if (!letters.length) return;
  const side = removedTopicOf(name);
  await context.send(side, letters.map((letter) => ({ key: idOf(letter), value: `${why} ${new Date().toISOString()}` })));
  const removed = await removedIds(context, name);
  for (const { partition, low, high } of await offsetsOf(context, name)) {
    let start = low;
    while (start < high && removed.has(`${partition}:${start}`)) start++;
    if (start === low) continue;
    await context.admin.deleteTopicRecords({ topic: name, partitions: [{ partition, offset: String(start) }] });
    const obsolete = [...removed].filter((id) => id.startsWith(`${partition}:`) && BigInt(id.slice(id.indexOf(':') + 1)) < start);
    await context.send(side, obsolete.map((id) => ({ key: id, value: null })));
  }
}

async function countLive(context: KafkaContext, name: string): Promise<number> {
  const removed = await removedIds(context, name);
  let count = 0n;
  for (const { partition, low, high } of await offsetsOf(context, name)) {
    count += high - low;
    for (const id of removed) if (id.startsWith(`${partition}:`) && BigInt(id.slice(id.indexOf(':') + 1)) >= low) count--;
  }
  return Number(count);
}

async function offsetsOf(context: KafkaContext, topic: string): Promise<{ partition: number; low: bigint; high: bigint }[]> {
  const offsets = await context.admin.fetchTopicOffsets(topic);
  return offsets.map((offset) => ({ partition: offset.partition, low: BigInt(offset.low), high: BigInt(offset.high) }));
}

/** Removal markers, re-read only when the side topic changed (count is polled for alerts and metrics). */
const markerCache = new WeakMap<KafkaContext, Map<string, { readonly version: string; readonly ids: ReadonlySet<string> }>>();

async function removedIds(context: KafkaContext, name: string): Promise<ReadonlySet<string>> {
  const side = removedTopicOf(name);
  const version = JSON.stringify(await offsetsOf(context, side), (_, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
  const cache = markerCache.get(context) ?? new Map();
  markerCache.set(context, cache);
  const cached = cache.get(name);
  if (cached?.version === version) return cached.ids;
  const ids = new Set<string>();
  for (const { message } of await readTopic(context, side)) {
    const key = message.key?.toString();
    if (key === undefined) continue;
    if (message.value === null) ids.delete(key);
    else ids.add(key);
  }
  cache.set(name, { version, ids });
  return ids;
}

/**
 * Every record of `topic` up to its current end. kafkajs consumes only through a consumer group, so a
 * throwaway group reads it; it commits nothing, so Kafka forgets the group once it leaves.
 */
async function readTopic(context: KafkaContext, topic: string): Promise<Letter[]> {
  const ends = new Map<number, bigint>();
  for (const { partition, low, high } of await offsetsOf(context, topic)) if (high > low) ends.set(partition, high);
  if (!ends.size) return [];
  const letters: Letter[] = [];
  const consumer = context.kafka.consumer({ groupId: `edaflow-reader-${randomUUID()}`, maxWaitTimeInMs: 100, ...readerTiming(context) });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} took longer than 30 s`)), 30_000);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = ends.get(batch.partition);
            if (end === undefined) return;
            for (const message of batch.messages) if (BigInt(message.offset) < end) letters.push({ partition: batch.partition, message });
            if (BigInt(batch.lastOffset()) + 1n >= end) ends.delete(batch.partition);
            if (!ends.size) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return letters.sort((a, b) => a.partition - b.partition || Number(BigInt(a.message.offset) - BigInt(b.message.offset)));
}

function readerTiming(context: KafkaContext): { sessionTimeout: number; heartbeatInterval: number; rebalanceTimeout: number } {
  return { sessionTimeout: context.options.sessionTimeoutMs, heartbeatInterval: context.options.heartbeatIntervalMs, rebalanceTimeout: context.options.rebalanceTimeoutMs };
}
