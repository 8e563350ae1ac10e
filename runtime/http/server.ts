import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { isEdaflowError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

export interface ComponentHealth {
  readonly name: string;
  readonly ready: boolean;
  readonly detail?: string;
}

export interface HttpServerOptions {
  readonly logger: Logger;
  /** Readiness of every started component; `/readyz` is 200 only when all are ready. */
  readonly components: () => readonly ComponentHealth[];
  readonly bodyLimit?: number;
  readonly metrics?: Metrics;
}

/**
 * The HTTP edge: health now; commands, queries, events and metrics register their routes here. Every
 * error answers with a JSON body `{ error: { code, message } }`, never an HTML page or an empty body.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? 1024 * 1024 });
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    // An EdaflowError carries its HTTP status in the error table; Fastify's own errors carry statusCode.
    const declared = isEdaflowError(error) ? (error.status ?? (error.code === 'EDA_STARTUP' ? 503 : 500)) : error.statusCode;
    const status = typeof declared === 'number' && declared >= 400 ? declared : 500;
    if (status >= 500 && status !== 503) options.logger.error({ err: error }, 'request failed');
    const details = isEdaflowError(error) && Object.keys(error.details).length ? { details: error.details } : {};
    void reply.status(status).send({ error: { code: error.code ?? 'EDA_INTERNAL', message: status >= 500 && status !== 503 ? 'internal error' : error.message, ...details } });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'EDA_NOT_FOUND', message: `no route ${request.method} ${request.url}` } });
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  const metrics = options.metrics;
  if (metrics) app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/readyz', async (_request, reply) => {
    const components = options.components();
    const ready = components.every((component) => component.ready);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'starting', components });
  });
  return app;
}
