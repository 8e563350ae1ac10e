import type { FastifyInstance } from 'fastify';
import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import { createHttpServer, type ComponentHealth } from '../http/server.js';
import type { Logger } from '../observability/logger.js';
import { openDatabase, type Database } from '../store/database.js';
import { loadHandlersModule, type HandlerFunctions } from './handlers-module.js';
import { registerEventRoutes } from '../http/events.js';
import { openCache } from '../idempotency/index.js';
import { Metrics } from '../observability/metrics.js';
import { startMessaging, type Messaging, type Publisher } from '../messaging/index.js';

export interface RuntimeOptions {
  readonly logger: Logger;
  readonly handlersModule?: string;
  readonly port?: number;
  readonly host?: string;
  readonly cwd?: string;
}

export interface Runtime {
  /** Base URL of the HTTP server, e.g. http://127.0.0.1:3000. */
  readonly url: string;
  readonly database: Database;
  readonly handlers: HandlerFunctions;
  readonly publisher: Publisher;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  /** Drains and stops every component in reverse start order. Safe to call twice. */
  stop(): Promise<void>;
}

interface Started {
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Starts everything the definitions declare, in dependency order: handlers module, HTTP (so health is
 * answerable while the rest starts), database, cache, brokers and handler subscriptions. The features
 * of later milestones (outbox relay, sagas, projections, streams) register here as components.
 */
export async function startRuntime(definitions: Definitions, options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const started: Started[] = [];
  const health = new Map<string, ComponentHealth>();
  const setHealth = (name: string, ready: boolean, detail?: string): void => {
    health.set(name, { name, ready, ...(detail ? { detail } : {}) });
  };
  const stopAll = async (): Promise<void> => {
    for (const component of started.splice(0).reverse()) {
      try {
        await component.stop();
        logger.info({ component: component.name }, 'stopped');
      } catch (error) {
        logger.error({ component: component.name, err: error }, 'stop failed');
      }
    }
  };

  try {
    const handlers = await loadHandlersModule(options.handlersModule, definitions, options.cwd);
    setHealth('database', false, 'opening');
    setHealth('brokers', false, 'waiting for the database');
    let messaging: Messaging | undefined;
    const metrics = new Metrics();
    const http: FastifyInstance = createHttpServer({ logger, metrics, components: () => [...health.values()], bodyLimit: definitions.defaults.payloadLimitBytes });
    registerEventRoutes(http, () => messaging?.publisher);
    const address = await http.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
    started.push({ name: 'http', stop: () => http.close() });
    logger.info({ component: 'http', url: address }, 'listening');

    const database = await openDatabase(definitions.stores.database, options.cwd ? { cwd: options.cwd } : {});
    started.push({ name: 'database', stop: () => database.close() });
    setHealth('database', true, database.kind);
    logger.info({ component: 'database', kind: database.kind }, 'ready');

    const cache = openCache(definitions.stores.cache);
    started.push({ name: 'cache', stop: () => cache.close() });
    messaging = await startMessaging({ definitions, logger, database, metrics, dedup: cache.dedup, functions: handlers });
    started.push({ name: 'messaging', stop: () => messaging!.stop() });
    setHealth('brokers', true, [...messaging.brokers.keys()].join(', '));

    logger.info(summarize(definitions), 'edaflow started');
    let stopping: Promise<void> | undefined;
    const publisher = messaging.publisher;
    return { url: address, database, handlers, publisher, brokers: messaging.brokers, stop: () => (stopping ??= stopAll()) };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function summarize(definitions: Definitions): Record<string, number> {
  return {
    events: definitions.events.size,
    commands: definitions.commands.size,
    topics: definitions.topics.size,
    queues: definitions.queues.size,
    handlers: definitions.handlers.size,
    aggregates: definitions.aggregates.size,
    sagas: definitions.sagas.size,
    projections: definitions.projections.size,
    streams: definitions.streams.size,
  };
}
