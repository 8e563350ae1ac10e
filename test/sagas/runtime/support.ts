import { resolve } from 'node:path';
import handlers from '../../../definitions/handlers/index.js';
import { createCommandBus, type CommandBus } from '../../../runtime/aggregates/index.js';
import type { BrokerAdapter } from '../../../runtime/brokers/adapter.js';
import { loadDefinitions, type Definitions } from '../../../runtime/definitions/index.js';
import { createEnvelope } from '../../../runtime/envelope/index.js';
import { createEventStore } from '../../../runtime/eventstore/index.js';
import { startHandlers } from '../../../runtime/handlers/runner.js';
import type { HandlerFunctions } from '../../../runtime/host/handlers-module.js';
import { MemoryDedupStore } from '../../../runtime/idempotency/dedup.js';
import { startMessaging } from '../../../runtime/messaging/index.js';
import { createLogger } from '../../../runtime/observability/logger.js';
import { createOutbox, startOutboxRelay } from '../../../runtime/outbox/index.js';
import { startSagas, type SagaRuntimeOptions } from '../../../runtime/sagas/index.js';
import type { Database } from '../../../runtime/store/database.js';

export const EXAMPLE_DIR = resolve(import.meta.dirname, '..', '..', '..', 'definitions');

/** The example's handlers, except that `createShipment` never answers for the orders in `silent` (their `ship` step times out). */
export function exampleFunctions(silent: ReadonlySet<string> = new Set()): HandlerFunctions {
  const createShipment = handlers.createShipment as (message: unknown, context: unknown) => Promise<void>;
  return {
    ...(handlers as unknown as HandlerFunctions),
    createShipment: (async (message: { data: { orderId: string } }, context: unknown) => {
      if (!silent.has(message.data.orderId)) await createShipment(message, context);
    }) as unknown as HandlerFunctions[string],
  };
}
export const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' });

export async function exampleDefinitions(): Promise<Definitions> {
  const result = await loadDefinitions(EXAMPLE_DIR);
  if (!result.definitions) throw new Error(`the example definitions are invalid: ${JSON.stringify(result.diagnostics)}`);
  return result.definitions;
}

export interface Stack {
  readonly commandBus: CommandBus;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  stop(): Promise<void>;
}

/**
 * What `edaflow run` starts, minus HTTP: the brokers (the implicit postgres one on `database`), the
 * handlers with the command bus (ConfirmOrder is executed in-process), the outbox relay and the sagas.
 */
export async function startStack(definitions: Definitions, database: Database, functions: HandlerFunctions, sagaOptions: Partial<SagaRuntimeOptions> = {}): Promise<Stack> {
  const dedup = new MemoryDedupStore();
  const messaging = await startMessaging({ definitions, logger, database, dedup });
  const { publisher, catalog, brokers, plan } = messaging;
  const outbox = createOutbox({ publisher });
  const store = createEventStore({ database, catalog, outbox });
  const commandBus = createCommandBus({ definitions, catalog, store, functions, logger });
  const handlers = await startHandlers({ definitions, plan, catalog, brokers, publisher, functions, dedup, logger, commandBus });
  const relay = await startOutboxRelay({ database, publisher, logger, pollIntervalMs: 100 });
  const sagas = await startSagas({ definitions, database, catalog, brokers, plan, outbox, functions, logger, pollIntervalMs: 100, ...sagaOptions });
  return {
    commandBus,
    brokers,
    async stop() {
      await sagas.stop();
      await handlers.stop();
      await relay.stop();
      await messaging.stop();
    },
  };
}

export function newOrder(orderId: string, price = 19.5) {
  return {
    orderId,
    customerId: 'c-42',
    items: [
      { sku: 'TSHIRT-M-BLUE', quantity: 2, price },
      { sku: 'MUG-WHITE', quantity: 1, price: 8 },
    ],
    shippingAddress: { line1: '5 Harbour Rd', city: 'Bristol', postalCode: 'BS1 5TR', country: 'GB' },
    billingAddress: { line1: '20 Queen St', city: 'London', postalCode: 'EC4R 1BE', country: 'GB' },
  };
}

export async function createOrder(stack: Stack, orderId: string, price?: number): Promise<void> {
  await stack.commandBus.execute(createEnvelope('CreateOrder', newOrder(orderId, price), 'test'));
}

export interface InstanceState {
  readonly id: string;
  readonly status: string;
  readonly state: string;
  readonly context: Record<string, unknown>;
}

export async function instanceOf(database: Database, saga: string, key: string): Promise<InstanceState | undefined> {
  const { rows } = await database.query<{ id: string; status: string; state: string; snapshot: { context: Record<string, unknown> } }>(
    'select id, status, state, snapshot from edaflow_saga_instances where saga = $1 and correlation_key = $2',
    [saga, key],
  );
  const row = rows[0];
  return row ? { id: row.id, status: row.status, state: row.state, context: row.snapshot.context } : undefined;
}

export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw last ?? new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
