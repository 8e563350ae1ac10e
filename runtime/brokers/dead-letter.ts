import type { Headers } from '../envelope/index.js';
import type { DeadLetterInfo, DestinationRef } from './adapter.js';

/** Header names of dead-letter metadata; brokers carry them next to the CloudEvents attributes. */
const PREFIX = 'edaflow-dlq-';

export function deadLetterHeaders(info: DeadLetterInfo): Record<string, string> {
  return {
    [`${PREFIX}reason`]: info.reason,
    [`${PREFIX}error`]: info.error.slice(0, 4096),
    [`${PREFIX}attempts`]: String(info.attempts),
    [`${PREFIX}origin`]: `${info.origin.kind}:${info.origin.name}`,
    [`${PREFIX}group`]: info.group,
    [`${PREFIX}failed-at`]: info.failedAt,
  };
}

export function readDeadLetterHeaders(headers: Headers): DeadLetterInfo | undefined {
  const get = (name: string): string | undefined => headers[PREFIX + name];
  const origin = get('origin');
  if (!origin) return undefined;
  const [kind, ...rest] = origin.split(':');
  return {
    reason: (get('reason') ?? 'failed') as DeadLetterInfo['reason'],
    error: get('error') ?? '',
    attempts: Number(get('attempts') ?? 0),
    origin: { kind: kind === 'topic' ? 'topic' : 'queue', name: rest.join(':') } satisfies DestinationRef,
    group: get('group') ?? '',
    failedAt: get('failed-at') ?? '',
  };
}

/** The headers of a dead letter without its metadata: what goes back to the origin on retry. */
export function withoutDeadLetterHeaders(headers: Headers): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !name.startsWith(PREFIX)) result[name] = value;
  return result;
}

/** Default dead-letter destination of a consumer group on a topic. */
export function topicGroupDeadLetter(topic: string, group: string): string {
  return `${topic}.${group}.dlq`;
}
