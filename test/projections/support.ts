import { resolve } from 'node:path';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { createEventStore, type EventStore } from '../../runtime/eventstore/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import type { Outbox } from '../../runtime/outbox/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import { startProjections, type Projections, type ProjectionsOptions } from '../../runtime/projections/index.js';
import type { Database } from '../../runtime/store/database.js';
import { openTestEmbedded, openTestPostgres } from '../conformance/adapters/postgres.js';

export const EXAMPLE_DIR = resolve(import.meta.dirname, '..', '..', 'definitions');

export const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' });

/** The projections under test read the store; where appended events travel next is not their concern. */
export const DISCARDING_OUTBOX: Outbox = { write: async () => undefined, parts: async () => [] };

export async function exampleDefinitions(): Promise<Definitions> {
  const result = await loadDefinitions(EXAMPLE_DIR);
  if (!result.definitions) throw new Error(`the example definitions are invalid: ${JSON.stringify(result.diagnostics)}`);
  return result.definitions;
}

export async function definitionsFrom(yaml: string): Promise<Definitions> {
  const result = await loadDefinitions('/test', { fileSystem: memoryFileSystem({ 'app.yaml': yaml }, '/test') });
  if (!result.definitions) throw new Error(`test definitions are invalid: ${JSON.stringify(result.diagnostics, null, 2)}`);
  return result.definitions;
}

export type DatabaseKind = 'embedded' | 'postgres';

export async function openTestDatabase(kind: DatabaseKind): Promise<{ database: Database; dispose: () => Promise<void> }> {
  return kind === 'embedded' ? openTestEmbedded() : openTestPostgres();
}

export interface Stack {
  readonly definitions: Definitions;
  readonly database: Database;
  readonly messaging: Messaging;
  readonly store: EventStore;
}

/** The definitions' brokers (the implicit postgres one on `database`) provisioned, and an event store. */
export async function openStack(definitions: Definitions, database: Database): Promise<Stack> {
  const messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
  return { definitions, database, messaging, store: createEventStore({ database, catalog: messaging.catalog, outbox: DISCARDING_OUTBOX }) };
}

/** Starts the projections of `stack`, polling quickly, with a short lease. */
export function start(stack: Stack, functions: HandlerFunctions, extra: Partial<ProjectionsOptions> = {}): Promise<Projections> {
  return startProjections({
    definitions: stack.definitions,
    database: stack.database,
    store: stack.store,
    catalog: stack.messaging.catalog,
    brokers: stack.messaging.brokers,
    plan: stack.messaging.plan,
    functions,
    logger,
    pollIntervalMs: 100,
    leaseTtlMs: 2_000,
    ...extra,
  });
}

export function event(type: string, subject: string, data: unknown, time?: string): Envelope {
  return createEnvelope(type, data, 'test', { subject, ...(time ? { time } : {}) });
}

export async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
