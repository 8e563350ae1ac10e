import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { Envelope } from '../../runtime/envelope/index.js';
import type { Runtime } from '../../runtime/host/runtime.js';
import { planMessaging } from '../../runtime/messaging/index.js';
import { KAFKA_BROKERS } from '../conformance/adapters/kafka.js';
import { RABBITMQ_URL } from '../conformance/adapters/rabbitmq.js';
import { NATS_URL, newRun, removeRunDestinations } from '../sagas/runtime/brokers-support.js';
import { POSTGRES_URL, startTestApp, type TestApp } from '../helpers/test-app.js';
import { ensureServers } from '../servers/servers.mjs';

export type TracedBroker = 'postgres' | 'kafka' | 'rabbitmq' | 'nats';

/** What the handlers received, in order (the handlers module runs in this process). */
export const seen: Envelope[] = ((globalThis as Record<string, unknown>)['__edaflowTracingSeen'] = []) as Envelope[];

/**
 * An order is placed over HTTP (an aggregate appends OrderPlaced, the outbox relays it to the broker);
 * handler `ship` consumes it and emits OrderShipped; handler `record` consumes that; saga Fulfil starts on
 * the first and ends on the second. Every destination is named after the run (shared servers).
 */
function definitionsYaml(broker: TracedBroker, run: string, schema: string): string {
  const main = {
    postgres: '{ type: postgres, pollInterval: 100ms }',
    rabbitmq: `{ type: rabbitmq, url: "${RABBITMQ_URL}" }`,
    nats: `{ type: nats, servers: ["${NATS_URL}"] }`,
    kafka: `{ type: kafka, brokers: ${JSON.stringify(KAFKA_BROKERS)}, clientId: tracing-${run} }`,
  }[broker];
  const orderSchema = '{ schema: { type: object, required: [orderId], properties: { orderId: { type: string } } } }';
  return `
brokers: { main: ${main} }
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
defaults: { broker: main, source: tracing-test }
topics: { orders-${run}: {}, shipments-${run}: {} }
events:
  OrderPlaced: { topic: orders-${run}, versions: { 1: ${orderSchema} } }
  OrderShipped: { topic: shipments-${run}, versions: { 1: ${orderSchema} } }
commands:
  PlaceOrder: ${orderSchema}
  Note: { schema: { type: object } }
aggregates:
  Order:
    streamId: command.orderId
    initial: { status: none }
    evolve: { OrderPlaced: { status: placed } }
    handle: { PlaceOrder: { when: "state.status = 'none'", reject: Order exists, emit: OrderPlaced } }
handlers:
  ship: { on: [OrderPlaced], emits: [OrderShipped] }
  record: { on: [OrderShipped] }
  note: { on: Note }
sagas:
  Fulfil:
    startedBy: OrderPlaced
    correlate: { OrderPlaced: data.orderId, OrderShipped: data.orderId }
    machine:
      initial: placed
      states:
        placed: { on: { OrderShipped: shipped } }
        shipped: { type: final }
`;
}

const HANDLERS = `
const seen = globalThis.__edaflowTracingSeen;
export default {
  async ship(message, context) {
    seen.push(message);
    await context.emit('OrderShipped', { orderId: message.data.orderId });
  },
  async record(message) { seen.push(message); },
  async note(message) { seen.push(message); },
};
`;

export type TracedApp = TestApp;

export async function startTracedApp(broker: TracedBroker): Promise<TracedApp> {
  const run = newRun();
  const app = await startTestApp({ name: 'tracing', definitions: (schema) => definitionsYaml(broker, run, schema), handlers: HANDLERS });
  return {
    ...app,
    async stop() {
      await app.stop();
      if (broker !== 'postgres') await removeRunDestinations(broker, run, planMessaging(app.definitions).topologies.get('main'));
    },
  };
}

/** In a describe block: the app on `broker`, started before its tests (with the servers it needs) and stopped after. */
export function useTracedApp(broker: TracedBroker): () => TracedApp {
  let app: TracedApp | undefined;
  beforeAll(async () => {
    await ensureServers(broker === 'postgres' ? ['postgres'] : [broker, 'postgres']);
    app = await startTracedApp(broker);
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);
  return () => app!;
}

/** A caller's traceparent: a fresh trace id and parent span id, sampled. */
export function callerTraceparent(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

export async function placeOrder(runtime: Runtime, traceparent: string): Promise<string> {
  const orderId = `o-${randomUUID().slice(0, 8)}`;
  const response = await fetch(`${runtime.url}/commands/PlaceOrder?wait=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent },
    body: JSON.stringify({ data: { orderId } }),
  });
  if (response.status !== 200) throw new Error(`PlaceOrder answered ${response.status}: ${await response.text()}`);
  return orderId;
}

/** The envelope of `type` a handler received for the order, once it has. */
export function received(type: string, orderId: string): Envelope | undefined {
  return seen.find((envelope) => envelope.type === type && (envelope.data as { orderId?: string }).orderId === orderId);
}
