import { EdaflowError } from '../../errors/index.js';
import type { GroupSpec } from '../adapter.js';
import { closeQuietly, replyCode, type RabbitConnection } from './connection.js';
import { consumedQueue } from './wire.js';

/**
 * Consumer lag of a group: the ready messages of the queue it reads (its own `<topic>.<group>` queue
 * on a topic, the queue itself otherwise), as `queue.declare` (passive) reports them. AMQP does not
 * report unacknowledged messages, and retries wait in retry queues, so neither counts here. A channel
 * of its own: a missing queue (404) closes the channel it was asked on.
 */
export async function groupLag(connection: RabbitConnection, group: GroupSpec): Promise<number> {
  const queue = consumedQueue(group.destination, group.group);
  const channel = await connection.channel();
  try {
    return (await channel.checkQueue(queue)).messageCount;
  } catch (error) {
    if (replyCode(error) === 404) throw new EdaflowError('EDA_UNKNOWN_DESTINATION', `no queue ${queue} (group ${group.group} on ${group.destination.kind} ${group.destination.name}) on broker ${connection.brokerName}: provision it first`, { cause: error });
    throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `broker ${connection.brokerName}: reading the depth of queue ${queue} failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await closeQuietly(channel);
  }
}
