import type { GroupSpec } from '../adapter.js';
import { brokerError, groupIdOf, type KafkaContext } from './client.js';

/**
 * Consumer lag of a group: per partition, the end offset (high watermark) minus the group's committed
 * offset, summed. A partition the group has never committed starts at the oldest retained message
 * (`startAt: earliest`), so its whole retained content counts. Offsets are committed a moment after
 * the messages are settled (see OffsetCommitter), so messages in flight still count.
 */
export async function groupLag(context: KafkaContext, group: GroupSpec): Promise<number> {
  const topic = group.destination.name;
  try {
    const [ends, [committed]] = await Promise.all([
      context.admin.fetchTopicOffsets(topic),
      context.admin.fetchOffsets({ groupId: groupIdOf(group.destination, group.group), topics: [topic] }),
    ]);
    const position = new Map((committed?.partitions ?? []).map((partition) => [partition.partition, BigInt(partition.offset)]));
    let lag = 0n;
    for (const partition of ends) {
      const end = BigInt(partition.high);
      const at = position.get(partition.partition) ?? -1n;
      const from = at < 0n ? BigInt(partition.low) : at;
      if (end > from) lag += end - from;
    }
    return Number(lag);
  } catch (error) {
    throw brokerError(context.name, `reading the lag of group ${group.group} on ${topic}`, error);
  }
}
