import type { BrokerAdapter, DestinationRef, OutgoingMessage } from '../brokers/adapter.js';
import { PostgresBroker } from '../brokers/postgres/broker.js';
import type { Envelope } from '../envelope/index.js';
import type { Publisher } from '../messaging/publisher.js';
import type { MessagingPlan } from '../messaging/topology.js';
import type { Database, Queryable } from '../store/database.js';
import { outboxInserts } from './write-rows.js';
import { runInsertPart, type InsertPart } from '../store/insert-part.js';

export interface Outbox {
  /**
   * In the caller's transaction: each envelope will reach its destination (the topic of an event, the
   * queue of a command, or in-process dispatch when it has none) after commit. Validates like
   * `Publisher.deliver` (EDA_PAYLOAD_INVALID, EDA_UNKNOWN_TYPE), before writing anything.
   */
  write(tx: Queryable, envelopes: readonly Envelope[]): Promise<void>;
  /**
   * The same writes as inserts for the caller to run inside its own statement (validated, nothing written
   * yet). Inside a transaction pass it as `tx`, so that lookups do not wait for it.
   */
  parts(envelopes: readonly Envelope[], tx?: Queryable): Promise<InsertPart[]>;
}

export interface OutboxOptions {
  /** Validates and routes each envelope (destination, broker, ordering key). */
  readonly publisher: Publisher;
  /** Not needed (the publisher knows the brokers and the plan); accepted so hosts can pass what they have. */
  readonly database?: Database;
  readonly brokers?: ReadonlyMap<string, BrokerAdapter>;
  readonly plan?: MessagingPlan;
}

/**
 * The transactional outbox. A destination on the `postgres` broker (whose tables live in this same
 * database) is written directly, as the broker's own inserts: the message commits with the events and
 * no relay is involved. Anything else becomes an `edaflow_outbox` row that the relay
 * (`startOutboxRelay`) publishes after commit.
 */
export function createOutbox(options: OutboxOptions): Outbox {
  const { publisher } = options;
  const parts = async (envelopes: readonly Envelope[], tx?: Queryable): Promise<InsertPart[]> => {
    const routed = await Promise.all(envelopes.map(async (envelope) => ({ envelope, route: await publisher.route(envelope) })));
    const relayed: Envelope[] = [];
    const direct: { broker: PostgresBroker; destination: DestinationRef; messages: OutgoingMessage[] }[] = [];
    for (const { envelope, route } of routed) {
      if (!route || !(route.broker instanceof PostgresBroker)) {
        relayed.push(envelope);
        continue;
      }
      // Consecutive messages to one destination go in one insert, in order.
      const last = direct.at(-1);
      if (last && last.broker === route.broker && sameDestination(last.destination, route.destination)) last.messages.push(route.message);
      else direct.push({ broker: route.broker, destination: route.destination, messages: [route.message] });
    }
    const inserts: InsertPart[] = [];
    for (const batch of direct) inserts.push(...(await batch.broker.publishParts(batch.destination, batch.messages, tx)));
    return [...inserts, ...outboxInserts(relayed)];
  };
  return {
    parts,
    async write(tx, envelopes) {
      for (const part of await parts(envelopes, tx)) await runInsertPart(tx, part);
    },
  };
}

export function sameDestination(a: DestinationRef, b: DestinationRef): boolean {
  return a.kind === b.kind && a.name === b.name;
}
