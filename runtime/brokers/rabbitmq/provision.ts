import type { Channel } from 'amqplib';
import { EdaflowError } from '../../errors/index.js';
import type { GroupSpec, QueueSpec, Topology } from '../adapter.js';
import { closeQuietly, replyCode, type RabbitConnection } from './connection.js';
import { groupQueue, retryQueue } from './wire.js';

type Arguments = Record<string, string | number | boolean>;

/**
 * Quorum queues: replicated, durable, and they count redeliveries (`x-delivery-count`). Dead-lettering
 * from them is at-least-once only with `reject-publish` overflow (RabbitMQ's rule).
 */
const QUORUM: Arguments = { 'x-queue-type': 'quorum' };
const SAFE_DEAD_LETTERING: Arguments = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };

/**
 * A queue: the broker itself dead-letters a message after `maxDeliveries` deliveries that never settled
 * (`x-delivery-limit`, e.g. a message that crashes the process each time) and one older than its TTL,
 * so a poison message cannot loop forever; retries and handler failures go through the pipeline.
 */
export function queueArguments(queue: QueueSpec): Arguments {
  return {
    ...QUORUM,
    'x-delivery-limit': queue.maxDeliveries,
    ...(queue.messageTtlMs !== undefined ? { 'x-message-ttl': queue.messageTtlMs } : {}),
    ...(queue.deadLetter ? { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue.deadLetter, ...SAFE_DEAD_LETTERING } : {}),
  };
}

/**
 * A topic's consumer group: single-active-consumer, so one consumer at a time reads the group's queue in
 * publish order (others of the group stand by and take over), and per-key order holds across processes.
 */
export const GROUP_QUEUE_ARGUMENTS: Arguments = { ...QUORUM, 'x-single-active-consumer': true };

export const DEAD_LETTER_QUEUE_ARGUMENTS: Arguments = QUORUM;

/**
 * A retry queue holds copies with a per-message TTL and dead-letters them back to the origin queue via
 * the default exchange when it expires. It deletes itself once unused (`x-expires`) well after its
 * longest TTL; every retry re-declares it, which resets that clock.
 */
export function retryQueueArguments(origin: string, tier: number): Arguments {
  return { ...QUORUM, ...SAFE_DEAD_LETTERING, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': origin, 'x-expires': tier * 2 + 60_000 };
}

/** Creates what is missing; a 406 (inequivalent argument) becomes EDA_PROVISION_CONFLICT. */
export async function provisionTopology(connection: RabbitConnection, exchangeName: (topic: string) => string, topology: Topology): Promise<void> {
  const channel = await connection.channel();
  const assertQueue = (name: string, args: Arguments): Promise<unknown> => declare(connection, 'queue', name, () => channel.assertQueue(name, { durable: true, arguments: args }));
  try {
    for (const topic of topology.topics) {
      const exchange = exchangeName(topic.name);
      await declare(connection, 'exchange', exchange, () => channel.assertExchange(exchange, 'fanout', { durable: true }));
    }
    for (const queue of topology.queues) {
      if (queue.deadLetter) await assertQueue(queue.deadLetter, DEAD_LETTER_QUEUE_ARGUMENTS);
      await assertQueue(queue.name, queueArguments(queue));
    }
    for (const group of topology.groups) await provisionGroup(connection, channel, exchangeName, group, assertQueue);
  } finally {
    await closeQuietly(channel);
  }
}

async function provisionGroup(
  connection: RabbitConnection, channel: Channel, exchangeName: (topic: string) => string, group: GroupSpec, assertQueue: (name: string, args: Arguments) => Promise<unknown>,
): Promise<void> {
  if (group.deadLetter) await assertQueue(group.deadLetter, DEAD_LETTER_QUEUE_ARGUMENTS);
  if (group.destination.kind !== 'topic') return;
  const queue = groupQueue(group.destination.name, group.group);
  const exchange = exchangeName(group.destination.name);
  await declare(connection, 'exchange', exchange, () => channel.assertExchange(exchange, 'fanout', { durable: true }));
  await assertQueue(queue, GROUP_QUEUE_ARGUMENTS);
  await declare(connection, 'queue', queue, () => channel.bindQueue(queue, exchange, ''));
}

/** How long RabbitMQ keeps a throwaway group's queue nobody consumes: a killed `edaflow tail` leaves nothing behind. */
const THROWAWAY_EXPIRES_MS = 60_000;

/**
 * A throwaway group's queue (`edaflow tail`), bound to the topic's exchange: it gets what is published
 * from now on (an exchange keeps no history). Not durable and not replicated — nothing of it must
 * outlive the tail — and deleted by the broker once unused for a minute.
 */
export async function declareThrowawayGroup(connection: RabbitConnection, exchange: string, group: GroupSpec): Promise<void> {
  const queue = groupQueue(group.destination.name, group.group);
  const channel = await connection.adminChannel();
  await declare(connection, 'exchange', exchange, () => channel.checkExchange(exchange));
  await declare(connection, 'queue', queue, () => channel.assertQueue(queue, { durable: false, arguments: { 'x-expires': THROWAWAY_EXPIRES_MS } }));
  await declare(connection, 'queue', queue, () => channel.bindQueue(queue, exchange, ''));
}

export async function deleteThrowawayGroup(connection: RabbitConnection, group: GroupSpec): Promise<void> {
  const channel = await connection.adminChannel();
  await channel.deleteQueue(groupQueue(group.destination.name, group.group));
}

/** Declares (or re-declares, which resets `x-expires`) the retry queue of `origin` for one delay tier. */
export async function ensureRetryQueue(connection: RabbitConnection, origin: string, tier: number): Promise<string> {
  const name = retryQueue(origin, tier);
  const channel = await connection.adminChannel();
  await declare(connection, 'queue', name, () => channel.assertQueue(name, { durable: true, arguments: retryQueueArguments(origin, tier) }));
  return name;
}

async function declare<T>(connection: RabbitConnection, kind: 'queue' | 'exchange', name: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw provisionError(connection, kind, name, error);
  }
}

/** RabbitMQ: "inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': received the value '5' of type 'signedint' but current is none". */
const INEQUIVALENT = /inequivalent arg '([^']+)' for (?:queue|exchange) '[^']*' in vhost '[^']*': received (.+) but current is (.+)$/;

function provisionError(connection: RabbitConnection, kind: 'queue' | 'exchange', name: string, error: unknown): EdaflowError {
  const text = (error as Error).message ?? String(error);
  const where = `${kind} ${name} on broker ${connection.brokerName}`;
  if (replyCode(error) === 406) {
    const match = INEQUIVALENT.exec(text);
    const detail = match ? `setting ${match[1]} is declared as ${match[2]} but the broker has ${match[3]}` : text;
    return new EdaflowError('EDA_PROVISION_CONFLICT', `${where}: ${detail}; delete or migrate the existing ${kind}, or change the definitions`, { cause: error, details: { kind, name, ...(match ? { setting: match[1], declared: match[2], existing: match[3] } : {}) } });
  }
  return new EdaflowError('EDA_BROKER_UNAVAILABLE', `${where}: ${text}`, { cause: error });
}
