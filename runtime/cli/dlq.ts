import { parseDuration } from '../definitions/index.js';
import type { Messaging } from '../messaging/index.js';
import { CommandFailure, withMessaging } from './messaging-session.js';

/** Every dead-letter destination the definitions imply, with its broker. */
function deadLetterDestinations(messaging: Messaging): { name: string; broker: string }[] {
  const found = new Map<string, string>();
  for (const [broker, topology] of messaging.plan.topologies) {
    for (const queue of topology.queues) if (queue.deadLetter) found.set(queue.deadLetter, broker);
    for (const group of topology.groups) if (group.deadLetter) found.set(group.deadLetter, broker);
  }
  return [...found].map(([name, broker]) => ({ name, broker })).sort((a, b) => a.name.localeCompare(b.name));
}

function brokerOf(messaging: Messaging, destination: string) {
  const found = deadLetterDestinations(messaging).find((d) => d.name === destination);
  if (!found) throw new CommandFailure(`no dead-letter destination "${destination}" (known: ${deadLetterDestinations(messaging).map((d) => d.name).join(', ') || 'none'})`, 2);
  return messaging.brokers.get(found.broker)!;
}

/** `edaflow dlq list [destination]`: counts per destination, or the messages of one (id, type, error, attempts, origin, time). */
export async function dlqList(dir: string, destination: string | undefined, options: { limit?: string; format?: string }): Promise<number> {
  return withMessaging(dir, async (messaging) => {
    if (!destination) {
      const rows = await Promise.all(deadLetterDestinations(messaging).map(async (d) => ({ ...d, count: await messaging.brokers.get(d.broker)!.deadLetters.count(d.name) })));
      if (options.format === 'json') process.stdout.write(JSON.stringify(rows) + '\n');
      else for (const row of rows) process.stdout.write(`${row.name}\t${row.count}\t(${row.broker})\n`);
      return 0;
    }
    const letters = await brokerOf(messaging, destination).deadLetters.list(destination, { limit: Number(options.limit ?? 100) });
    if (options.format === 'json') {
      process.stdout.write(JSON.stringify(letters.map((l) => ({ id: `${destination}/${l.id}`, headers: l.headers, body: l.body.toString('utf8'), info: l.info }))) + '\n');
      return 0;
    }
    for (const letter of letters) {
      const type = Object.entries(letter.headers).find(([name]) => name.toLowerCase().endsWith('type') && !name.startsWith('edaflow-'))?.[1] ?? '?';
      process.stdout.write(`${destination}/${letter.id}\t${type}\t${letter.info.reason}\tattempts=${letter.info.attempts}\t${letter.info.origin.kind}:${letter.info.origin.name}\t${letter.info.failedAt}\t${letter.info.error}\n`);
    }
    return 0;
  });
}

/** `edaflow dlq retry <destination>/<id>`: back to its origin. */
export async function dlqRetry(dir: string, qualifiedId: string): Promise<number> {
  const slash = qualifiedId.lastIndexOf('/');
  if (slash <= 0) throw new CommandFailure(`give the id as printed by \`dlq list\`: <destination>/<id>, not "${qualifiedId}"`, 2);
  const destination = qualifiedId.slice(0, slash);
  return withMessaging(dir, async (messaging) => {
    await brokerOf(messaging, destination).deadLetters.retry(destination, qualifiedId.slice(slash + 1));
    process.stdout.write(`retried ${qualifiedId}\n`);
    return 0;
  });
}

export async function dlqRetryAll(dir: string, destination: string): Promise<number> {
  return withMessaging(dir, async (messaging) => {
    const count = await brokerOf(messaging, destination).deadLetters.retryAll(destination);
    process.stdout.write(`retried ${count} message${count === 1 ? '' : 's'} from ${destination}\n`);
    return 0;
  });
}

export async function dlqPurge(dir: string, destination: string, options: { olderThan?: string }): Promise<number> {
  const olderThanMs = options.olderThan === undefined ? undefined : parseDuration(options.olderThan);
  if (options.olderThan !== undefined && olderThanMs === undefined) throw new CommandFailure(`--older-than "${options.olderThan}" is not a duration (250ms, 30s, 5m, 2h, 7d)`, 2);
  return withMessaging(dir, async (messaging) => {
    const count = await brokerOf(messaging, destination).deadLetters.purge(destination, olderThanMs === undefined ? {} : { olderThanMs });
    process.stdout.write(`purged ${count} message${count === 1 ? '' : 's'} from ${destination}\n`);
    return 0;
  });
}
