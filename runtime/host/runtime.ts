import type { FastifyInstance } from 'fastify';
import { createCommandBus, type CommandBus } from '../aggregates/index.js';
import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import { createEventStore, type EventStore } from '../eventstore/index.js';
import { InFlightRequests, type ApiServices } from '../http/api.js';
import { authenticatorFromEnvironment, type Authenticate } from '../http/auth.js';
import { registerCommandRoutes } from '../http/commands.js';
import { IdempotencyStore } from '../http/idempotency.js';
import { HttpMetrics } from '../http/metrics.js';
import { registerQueryRoutes } from '../http/queries.js';
import { createHttpServer, type ComponentHealth } from '../http/server.js';
import type { Logger } from '../observability/logger.js';
import { createOutbox, startOutboxRelay } from '../outbox/index.js';
import { startProjections } from '../projections/index.js';
import { startStreams } from '../streams/index.js';
import { startSagas } from '../sagas/index.js';
import { createQueryService, type QueryService } from '../queries/index.js';
import { openDatabase, type Database } from '../store/database.js';
import { loadHandlers, type HandlerFunctions } from './handlers-module.js';
import { registerEventRoutes } from '../http/events.js';
import { registerStatusRoute, type StatusServices } from '../http/status.js';
import { openCache } from '../idempotency/index.js';
import { Metrics } from '../observability/metrics.js';
import { startMessaging, type Messaging, type Publisher } from '../messaging/index.js';
import { startHandlers } from '../handlers/runner.js';

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
  readonly eventStore: EventStore;
  readonly commandBus: CommandBus;
  readonly queries: QueryService;
  /** Drains and stops every component in reverse start order. Safe to call twice. */
  stop(): Promise<void>;
}

interface Started {
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Starts everything the definitions declare, in dependency order: handlers module, HTTP (so health is
 * answerable while the rest starts), database, cache, brokers and handler subscriptions, then the event
 * store with its outbox and relay, the command bus, the subscriptions, projections, sagas, streams and
 * queries — and only then opens the command and query routes (503 until then). Everything stops in
 * reverse order.
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
    const { functions: handlers, authenticate: exportedAuthenticate } = await loadHandlers(options.handlersModule, definitions, options.cwd);
    const authenticate = exportedAuthenticate ?? authenticatorFromEnvironment();
    warnAboutRoles(definitions, authenticate, logger);
    setHealth('database', false, 'opening');
    setHealth('brokers', false, 'waiting for the database');
    setHealth('eventstore', false, 'waiting for the brokers');
    setHealth('projections', false, 'waiting for the event store');
    setHealth('sagas', false, 'waiting for the brokers');
    setHealth('streams', false, 'waiting for the brokers');
    let messaging: Messaging | undefined;
    let idempotency: IdempotencyStore | undefined;
    let api: ApiServices | undefined;
    const metrics = new Metrics();
    const http: FastifyInstance = createHttpServer({ logger, metrics, components: () => [...health.values()], bodyLimit: definitions.defaults.payloadLimitBytes });
    registerEventRoutes(http, () => (messaging ? { publisher: messaging.publisher, ...(idempotency ? { idempotency } : {}) } : undefined));
    const inFlight = new InFlightRequests();
    const apiOptions = { definitions, logger, metrics: new HttpMetrics(metrics), ...(authenticate ? { authenticate } : {}), services: () => api, inFlight };
    registerCommandRoutes(http, apiOptions);
    registerQueryRoutes(http, apiOptions);
    let status: StatusServices | undefined;
    registerStatusRoute(http, () => status);
    const address = await http.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
    started.push({ name: 'http', stop: () => http.close() });
    logger.info({ component: 'http', url: address }, 'listening');

    const database = await openDatabase(definitions.stores.database, options.cwd ? { cwd: options.cwd } : {});
    started.push({ name: 'database', stop: () => database.close() });
    setHealth('database', true, database.kind);
    logger.info({ component: 'database', kind: database.kind }, 'ready');
    idempotency = new IdempotencyStore(database, { ttlMs: definitions.defaults.idempotencyTtlMs });

    const cache = openCache(definitions.stores.cache);
    started.push({ name: 'cache', stop: () => cache.close() });
    // Brokers and the publisher first; the subscriptions only once the command bus exists (below), so a
    // command for an aggregate that arrives over a queue or in-process finds it.
    messaging = await startMessaging({ definitions, logger, database, metrics, dedup: cache.dedup });
    status = { definitions, messaging, database, metrics };
    started.push({ name: 'messaging', stop: () => messaging!.stop() });
    setHealth('brokers', true, [...messaging.brokers.keys()].join(', '));
    const { publisher, catalog, brokers, plan } = messaging;

    // The outbox delivers what the event store appends: in the same transaction on the postgres broker,
    // else through the relay, which publishes committed rows until it is stopped (before the brokers).
    const outbox = createOutbox({ database, publisher, brokers, plan });
    const eventStore = createEventStore({ database, catalog, outbox, metrics });
    const relay = await startOutboxRelay({ database, publisher, logger: logger.child({ component: 'outbox' }) });
    started.push({ name: 'outbox relay', stop: () => relay.stop() });
    const commandBus = createCommandBus({ definitions, catalog, store: eventStore, functions: handlers, logger });
    setHealth('eventstore', true, `${definitions.aggregates.size} aggregates`);
    const subscriptions = await startHandlers({ definitions, plan, catalog, brokers, publisher, functions: handlers, dedup: cache.dedup, logger, metrics, commandBus });
    started.push({ name: 'handlers', stop: () => subscriptions.stop() });

    const projections = await startProjections({ definitions, database, store: eventStore, catalog, brokers, plan, functions: handlers, logger, metrics });
    started.push({ name: 'projections', stop: () => projections.stop() });
    setHealth('projections', true, `${definitions.projections.size} projections`);
    const sagas = await startSagas({ definitions, database, catalog, brokers, plan, outbox, functions: handlers, logger, metrics });
    started.push({ name: 'sagas', stop: () => sagas.stop() });
    setHealth('sagas', true, `${definitions.sagas.size} sagas`);
    const streams = await startStreams({ definitions, database, catalog, brokers, plan, outbox, logger, metrics });
    started.push({ name: 'streams', stop: () => streams.stop() });
    setHealth('streams', true, `${definitions.streams.size} streams`);
    const queries = createQueryService({ definitions, database, functions: handlers });
    api = { catalog, publisher, commandBus, queries, idempotency };
    // Close the routes first on the way down (503 from then on) and let the requests being served
    // finish, so no command is cut off while the components it uses stop.
    started.push({
      name: 'command and query routes',
      stop: async () => {
        api = undefined;
        await inFlight.drained();
      },
    });

    logger.info(summarize(definitions), 'edaflow started');
    let stopping: Promise<void> | undefined;
    return { url: address, database, handlers, publisher, brokers, eventStore, commandBus, queries, stop: () => (stopping ??= stopAll()) };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Routes with `roles` and no verifier answer every request with 401: say so at start, not at the first call. */
function warnAboutRoles(definitions: Definitions, authenticate: Authenticate | undefined, logger: Logger): void {
  if (authenticate) return;
  const guarded = [...definitions.commands.values(), ...definitions.queries.values()].filter((entry) => entry.spec.roles?.length).map((entry) => entry.name);
  if (guarded.length) {
    logger.warn({ routes: guarded }, 'these commands and queries declare roles but no verifier is configured (export `authenticate` from the handlers module, or set EDAFLOW_JWT_SECRET or EDAFLOW_JWKS_URL): they answer 401');
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
