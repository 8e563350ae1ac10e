import type { BrokerAdapter } from '../brokers/adapter.js';
import type { AlertThresholds, Definitions } from '../definitions/index.js';
import type { ConsumerKind, ConsumerPlan, MessagingPlan } from '../messaging/topology.js';
import type { Queryable } from '../store/database.js';

/** Every planned consumer: handlers, aggregates' command queues, topic-fed projections, sagas, stream inputs. */
export function allConsumers(plan: MessagingPlan): ConsumerPlan[] {
  return [...plan.consumers, ...plan.aggregateConsumers, ...plan.projectionConsumers, ...plan.sagaConsumers, ...plan.streamConsumers];
}

/** The `alerts` of a consumer's definition, each unset key taken from `defaults.alerts`. */
export function alertThresholds(definitions: Definitions, kind: ConsumerKind, name: string): AlertThresholds {
  const sections = { handler: definitions.handlers, aggregate: definitions.aggregates, projection: definitions.projections, saga: definitions.sagas, stream: definitions.streams };
  const own = (sections[kind].get(name)?.spec as { alerts?: AlertThresholds } | undefined)?.alerts ?? {};
  return { ...definitions.defaults.alerts, ...own };
}

/** A number, or why it could not be measured (a broker down, a destination not provisioned). */
export type Measured = { readonly value: number } | { readonly error: string };

export interface ConsumerMeasure {
  readonly consumer: ConsumerPlan;
  readonly lag: Measured;
}

/**
 * The lag of each consumer, from its broker's own numbers, measured side by side. A consumer whose
 * broker is not connected (not in `brokers`) gets an error, not an exception.
 */
export async function measureConsumers(consumers: readonly ConsumerPlan[], brokers: ReadonlyMap<string, BrokerAdapter>): Promise<ConsumerMeasure[]> {
  return Promise.all(consumers.map(async (consumer): Promise<ConsumerMeasure> => {
    const broker = brokers.get(consumer.broker);
    if (!broker) return { consumer, lag: { error: `broker ${consumer.broker} is not connected` } };
    return { consumer, lag: await measured(broker.lag({ destination: consumer.destination, group: consumer.group, deadLetter: consumer.deadLetter, retry: consumer.retry })) };
  }));
}

/** A dead-letter destination, its broker, and the size above which it alerts. */
export interface DeadLetterDestination {
  readonly name: string;
  readonly broker: string;
  readonly alertAbove?: number;
}

/**
 * Every dead-letter destination the definitions imply (queues' and consumer groups'). Its threshold:
 * the queue's own `deadLetter.alertAbove`, else the lowest `alerts.deadLettersAbove` of the consumers
 * that dead-letter into it (their defaults included).
 */
export function deadLetterDestinations(definitions: Definitions, plan: MessagingPlan): DeadLetterDestination[] {
  const found = new Map<string, { broker: string; declared?: number; consumers: number[] }>();
  const entry = (name: string, broker: string) => {
    let existing = found.get(name);
    if (!existing) found.set(name, (existing = { broker, consumers: [] }));
    return existing;
  };
  for (const queue of definitions.queues.values()) {
    const declared = queue.spec.deadLetter;
    if (declared === false) continue;
    const target = entry(declared?.queue ?? `${queue.name}.dlq`, plan.brokerOf({ kind: 'queue', name: queue.name }));
    if (declared?.alertAbove !== undefined) target.declared = declared.alertAbove;
  }
  for (const consumer of allConsumers(plan)) {
    if (consumer.deadLetter === null) continue;
    const threshold = alertThresholds(definitions, consumer.kind, consumer.name).deadLettersAbove;
    const target = entry(consumer.deadLetter, consumer.broker);
    if (threshold !== undefined) target.consumers.push(threshold);
  }
  return [...found].map(([name, { broker, declared, consumers }]) => {
    const alertAbove = declared ?? (consumers.length ? Math.min(...consumers) : undefined);
    return { name, broker, ...(alertAbove !== undefined ? { alertAbove } : {}) };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** The size of each dead-letter destination, by name. */
export async function measureDeadLetters(destinations: readonly DeadLetterDestination[], brokers: ReadonlyMap<string, BrokerAdapter>): Promise<Map<string, Measured>> {
  const sizes = await Promise.all(destinations.map(async (destination): Promise<[string, Measured]> => {
    const broker = brokers.get(destination.broker);
    return [destination.name, broker ? await measured(broker.deadLetters.count(destination.name)) : { error: `broker ${destination.broker} is not connected` }];
  }));
  return new Map(sizes);
}

async function measured(value: Promise<number>): Promise<Measured> {
  try {
    return { value: await value };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Projections fed by the event store (`from: events`, the default): the others are consumers. */
export function storeFedProjections(definitions: Definitions): { name: string; types: string[] }[] {
  return [...definitions.projections.values()]
    .filter((projection) => projection.spec.from === undefined || projection.spec.from === 'events')
    .map((projection) => ({ name: projection.name, types: Object.keys(projection.spec.on) }));
}

/**
 * Lag of each projection fed by the event store: the events of the types it handles that are after its
 * checkpoint in the log's (transaction id, position) order, plus those of the transactions its
 * checkpoint still waits for (`late`, see runtime/store/commit-cursor.ts) — the events it still has to
 * apply. (`to_jsonb(c) -> 'late'`: a checkpoint row without that column reads as none late.)
 */
export async function projectionLags(db: Queryable, projections: readonly { name: string; types: readonly string[] }[]): Promise<Map<string, number>> {
  const lags = new Map<string, number>();
  if (!projections.length) return lags;
  const { rows } = await db.query<{ name: string; lag: number }>(
    `with p as (select * from jsonb_to_recordset($1::jsonb) as p(name text, types jsonb)),
     c as (
       select p.name, p.types, coalesce(c.position, 0) as position,
              coalesce((select transaction_id from edaflow_events where position = c.position), '0'::xid8) as transaction_id,
              coalesce(to_jsonb(c) -> 'late', '{}'::jsonb) as late
       from p left join edaflow_projection_checkpoints c on c.name = p.name
     )
     select c.name,
       (select count(*)::int from edaflow_events e
         where (e.transaction_id, e.position) > (c.transaction_id, c.position) and e.type in (select jsonb_array_elements_text(c.types)))
       + (select count(*)::int from jsonb_each_text(c.late) as late join edaflow_events e on e.transaction_id = late.key::xid8 and e.position > late.value::bigint
         where e.type in (select jsonb_array_elements_text(c.types))) as lag
     from c`,
    [JSON.stringify(projections)],
  );
  for (const row of rows) lags.set(row.name, row.lag);
  return lags;
}

/** Outbox rows waiting to be published (dead ones, which the relay gave up on, apart). */
export async function outboxBacklog(db: Queryable): Promise<{ pending: number; dead: number }> {
  const { rows } = await db.query<{ pending: number; dead: number }>('select count(*) filter (where dead_at is null)::int as pending, count(*) filter (where dead_at is not null)::int as dead from edaflow_outbox');
  return { pending: rows[0]?.pending ?? 0, dead: rows[0]?.dead ?? 0 };
}

/** Saga instances per saga and status. */
export async function sagaInstanceCounts(db: Queryable): Promise<{ saga: string; status: string; count: number }[]> {
  const { rows } = await db.query<{ saga: string; status: string; count: number }>('select saga, status, count(*)::int as count from edaflow_saga_instances group by saga, status order by saga, status');
  return rows;
}
