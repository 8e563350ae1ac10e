import type { FastifyInstance } from 'fastify';
import { EdaflowError } from '../errors/index.js';
import { handleRecorded, readyServices, singleValued, traceparentHeader, type ApiOptions } from './api.js';
import { serverSpan } from '../tracing/index.js';
import { authorize } from './auth.js';

/**
 * `GET /queries/<name>?param=value…`: runs a query of the definitions with the query string as its
 * `params`. 200 with the row (`single: true`) or the list of rows; 404 EDA_NOT_FOUND for an unknown
 * query or a single row that does not exist; 400 EDA_QUERY_INVALID for a missing or repeated parameter;
 * the query's `roles` are checked as for commands (401 / 403).
 */
export function registerQueryRoutes(app: FastifyInstance, options: ApiOptions): void {
  app.get<{ Params: { name: string } }>('/queries/:name', async (request, reply) => {
    const name = request.params.name;
    const query = options.definitions.queries.get(name);
    return serverSpan('GET', '/queries/:name', traceparentHeader(request), () => handleRecorded(options, reply, { kind: 'query', name: query ? name : undefined, requested: name }, async (context) => {
      if (!query) throw new EdaflowError('EDA_NOT_FOUND', `unknown query "${name}"`);
      await authorize(request, query.spec.roles, options.authenticate, options.logger, context);
      const params = singleValued(request.query, 'EDA_QUERY_INVALID');
      const result = await readyServices(options.services).queries.run(name, params);
      return { response: { status: 200, headers: {}, body: result ?? null } };
    }));
  });
}
