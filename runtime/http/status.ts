import type { FastifyInstance } from 'fastify';
import type { Definitions } from '../definitions/index.js';
import type { Messaging } from '../messaging/index.js';
import type { Metrics } from '../observability/metrics.js';
import { collectStatus } from '../observability/status.js';
import type { Database } from '../store/database.js';
import { readyServices } from './api.js';

export interface StatusServices {
  readonly definitions: Definitions;
  readonly messaging: Messaging;
  readonly database: Database;
  readonly metrics: Metrics;
}

/**
 * `GET /status`: what `edaflow status` prints, measured by the running runtime, with its consumers'
 * error rates (which only this process knows). Like /metrics it needs no token: it reveals counts and
 * names, never message contents. 503 until the brokers and the database are up.
 */
export function registerStatusRoute(app: FastifyInstance, services: () => StatusServices | undefined): void {
  app.get('/status', async () => {
    const { definitions, messaging, database, metrics } = readyServices(services);
    return collectStatus(definitions, messaging, database, metrics);
  });
}
