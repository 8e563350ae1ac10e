import { JetStreamApiCodes, type JetStreamManager } from '@nats-io/jetstream';
import { EdaflowError } from '../../errors/index.js';
import type { GroupSpec } from '../adapter.js';
import { consumerName, isNotFound } from './provision.js';
import { asUnavailable, destinationStream } from './wire.js';

/**
 * Consumer lag of a group, from its durable consumer's info: `num_pending` (stored messages the
 * consumer has not delivered yet) plus `num_ack_pending` (delivered, not yet acknowledged: in flight,
 * or waiting for a redelivery after `nak(delay)`).
 */
export async function groupLag(jsm: JetStreamManager, broker: string, group: GroupSpec): Promise<number> {
  const stream = destinationStream(group.destination);
  const consumer = consumerName(group);
  try {
    const info = await jsm.consumers.info(stream, consumer);
    return info.num_pending + info.num_ack_pending;
  } catch (error) {
    if (isNotFound(error, JetStreamApiCodes.ConsumerNotFound) || isNotFound(error, JetStreamApiCodes.StreamNotFound)) {
      throw new EdaflowError('EDA_UNKNOWN_DESTINATION', `no NATS consumer ${consumer} on stream ${stream} (group ${group.group}) on broker ${broker}: provision it first`, { cause: error });
    }
    throw asUnavailable(error, `reading the lag of group ${group.group} on broker ${broker}`);
  }
}
