import { readFileSync } from 'node:fs';
import { CommandFailure, withMessaging } from './messaging-session.js';

interface PublishOptions {
  data?: string;
  file?: string;
  subject?: string;
  id?: string;
  time?: string;
}

/**
 * `edaflow publish <dir> <Type> --data <json>` or `--file <ndjson>` (one `data` object per line, or
 * lines `{ "data": ..., "subject": ..., "time": ..., "id": ... }` when they carry envelope attributes).
 * Every line is validated before anything is sent; prints one message id per line.
 */
export async function publishCommand(dir: string, type: string, options: PublishOptions): Promise<number> {
  const messages = readMessages(options);
  return withMessaging(dir, async ({ publisher, catalog }) => {
    if (!catalog.has(type)) throw new CommandFailure(`unknown message type "${type}"`, 2);
    messages.forEach((message, index) => {
      try {
        catalog.assertPublishable(type, message.data);
      } catch (error) {
        throw new CommandFailure(`${options.file ? `${options.file}:${index + 1}: ` : ''}${(error as Error).message}; nothing was sent`, 1);
      }
    });
    for (const message of messages) {
      const send = catalog.kind(type) === 'command' ? publisher.send.bind(publisher) : publisher.publish.bind(publisher);
      const envelope = await send(type, message.data, message.attributes);
      process.stdout.write(`${envelope.id}\n`);
    }
    return 0;
  });
}

function readMessages(options: PublishOptions): { data: unknown; attributes: { id?: string; subject?: string; time?: string } }[] {
  const attributes = Object.fromEntries(Object.entries({ id: options.id, subject: options.subject, time: options.time }).filter(([, v]) => v !== undefined));
  if (options.data !== undefined) return [{ data: parse(options.data, '--data'), attributes }];
  if (options.file === undefined) throw new CommandFailure('give --data <json> or --file <ndjson>', 2);
  const lines = readFileSync(options.file, 'utf8').split('\n').map((line) => line.trim());
  return lines.flatMap((line, index) => {
    if (!line) return [];
    const value = parse(line, `${options.file}:${index + 1}`) as Record<string, unknown>;
    const wrapped = value !== null && typeof value === 'object' && 'data' in value;
    if (!wrapped) return [{ data: value, attributes }];
    const own = Object.fromEntries(['id', 'subject', 'time'].filter((key) => typeof value[key] === 'string').map((key) => [key, value[key] as string]));
    return [{ data: value['data'], attributes: { ...attributes, ...own } }];
  });
}

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CommandFailure(`${where}: not JSON (${(error as Error).message})`, 2);
  }
}
