import type { GroupSpec } from '../adapter.js';
import { topicRefused, type Queues } from './queues.js';

/**
 * Messages in a queue not yet deleted, by SQS's (approximate) counters: visible ones, those received
 * and not yet deleted (in flight, or hidden by a retry's visibility change) and delayed ones.
 */
export async function queueDepth(queues: Queues, name: string): Promise<number> {
  const attributes = await queues.attributes(name, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed']);
  return Number(attributes['ApproximateNumberOfMessages'] ?? 0) + Number(attributes['ApproximateNumberOfMessagesNotVisible'] ?? 0) + Number(attributes['ApproximateNumberOfMessagesDelayed'] ?? 0);
}

/** Consumer lag of a group: its queue's depth (every group of a queue competes for the same messages). */
export async function groupLag(queues: Queues, broker: string, group: GroupSpec): Promise<number> {
  if (group.destination.kind === 'topic') throw topicRefused(broker, group.destination.name);
  return queueDepth(queues, group.destination.name);
}
