import { randomUUID } from 'node:crypto';
import type { BrokerAdapter, Delivery, DestinationRef, SubscribeRequest } from '../brokers/adapter.js';
import { decode, type Envelope } from '../envelope/index.js';
import type { Definitions } from '../definitions/index.js';
import { CommandFailure, withMessaging } from './messaging-session.js';

export interface TailOptions {
  fromBeginning?: boolean;
  format?: string;
  /** Stop after this many messages (like kcat's -c). */
  count?: string;
}

/** The tail's reader takes each message as it comes and never retries: it only watches. */
const WATCH_ONLY = { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false } as const;

/**
 * `edaflow tail <dir> <topic> [--from-beginning] [--format json]`: prints a topic's messages as they
 * arrive, like kcat. It reads as a throwaway consumer group of its own (removed when it stops), so the
 * handlers' groups lose nothing and see nothing of it. Without `--from-beginning` it prints only what is
 * published after it started. Stops on SIGINT/SIGTERM (or after `--count` messages) with exit 0.
 *
 * Queues are refused: a queue's consumers compete for its messages, so a reader would take them from the
 * workers, and no broker offers a non-destructive read of a queue that works the same everywhere.
 */
export async function tailCommand(dir: string, name: string, options: TailOptions): Promise<number> {
  const format = options.format ?? 'pretty';
  const limit = options.count === undefined ? Infinity : Number(options.count);
  if (!(limit > 0) || (limit !== Infinity && !Number.isInteger(limit))) throw new CommandFailure(`--count must be a positive whole number, got "${options.count}"`, 2);
  return withMessaging(dir, async (messaging, definitions) => {
    const destination = topicNamed(definitions, name);
    const broker = messaging.brokers.get(messaging.plan.brokerOf(destination))!;
    const from = options.fromBeginning ? 'earliest' : 'latest';
    if (options.fromBeginning && !broker.capabilities.topicHistory) {
      process.stderr.write(`edaflow tail: broker ${broker.name} keeps no history on a topic; printing what is published from now on\n`);
    }
    return watch(broker, { destination, from, format, limit });
  });
}

/** The topic to tail; a queue or an unknown name is a usage error (exit 2) that says why. */
function topicNamed(definitions: Definitions, name: string): DestinationRef {
  if (definitions.topics.has(name)) return { kind: 'topic', name };
  if (definitions.queues.has(name)) {
    throw new CommandFailure(
      `"${name}" is a queue: its consumers compete for its messages, so tailing it would take them from the workers. ` +
        'Tail a topic instead, or look at what failed with `edaflow dlq list`',
      2,
    );
  }
  const known = [...definitions.topics.keys()].sort().join(', ') || 'none';
  throw new CommandFailure(`no topic named "${name}" (topics: ${known})`, 2);
}

interface Watch {
  readonly destination: DestinationRef;
  readonly from: 'earliest' | 'latest';
  readonly format: string;
  readonly limit: number;
}

/** Subscribes the throwaway group and prints until a signal (or the count) says stop. */
async function watch(broker: BrokerAdapter, { destination, from, format, limit }: Watch): Promise<number> {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let printed = 0;
  const print = async (delivery: Delivery): Promise<void> => {
    if (printed < limit) {
      process.stdout.write(format === 'json' ? jsonLine(delivery, broker) : prettyLine(delivery, broker));
      if (++printed >= limit) stop();
    }
    await delivery.ack();
  };
  const request: SubscribeRequest = {
    destination, group: `edaflow-tail-${randomUUID().slice(0, 8)}`, deadLetter: null, retry: WATCH_ONLY,
    concurrency: 1, prefetch: 100, startAt: from, ephemeral: true,
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // `edaflow tail ... | head`: a closed pipe ends the tail, it is not an error.
  process.stdout.once('error', stop);
  try {
    const subscription = await broker.subscribe(request, print);
    process.stderr.write(`edaflow tail: ${destination.name} on broker ${broker.name}, ${from === 'earliest' ? 'from the beginning' : 'new messages only'} (Ctrl-C to stop)\n`);
    await stopped;
    await subscription.stop();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}

/** One message as a JSON line: the CloudEvent (structured mode), or the raw message when it is not one. */
function jsonLine(delivery: Delivery, broker: BrokerAdapter): string {
  const read = readEnvelope(delivery, broker);
  const line = 'envelope' in read
    ? { ...read.envelope, ...(delivery.key !== undefined ? { key: delivery.key } : {}) }
    : { undecodable: read.problem, headers: delivery.headers, body: delivery.body.toString('utf8'), ...(delivery.key !== undefined ? { key: delivery.key } : {}) };
  return `${JSON.stringify(line)}\n`;
}

/** One message as a line for people: time, type and version, subject, id, then the data. */
function prettyLine(delivery: Delivery, broker: BrokerAdapter): string {
  const read = readEnvelope(delivery, broker);
  if (!('envelope' in read)) return `(not a CloudEvent: ${read.problem}) ${delivery.body.toString('utf8')}\n`;
  const { envelope } = read;
  const subject = envelope.subject !== undefined ? ` subject=${envelope.subject}` : '';
  return `${envelope.time} ${envelope.type} v${envelope.dataversion ?? 1}${subject} id=${envelope.id} ${JSON.stringify(envelope.data)}\n`;
}

function readEnvelope(delivery: Delivery, broker: BrokerAdapter): { envelope: Envelope } | { problem: string } {
  try {
    return { envelope: decode(delivery.headers, delivery.body, broker.capabilities.headerPrefix) };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}
