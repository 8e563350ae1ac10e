import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
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

/** An HTTP answer as data, so a response can be stored and replayed (Idempotency-Key). */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: Readonly<Record<string, unknown>> };
}

/**
 * The one mapping from an error to its HTTP answer. An EdaflowError carries its status in the error
 * table (EDA_STARTUP is 503: not ready yet); Fastify's own errors carry statusCode; anything else is a
 * 500 whose message is not shown. A 401 names the scheme to use (RFC 6750).
 */
export function errorResponse(error: unknown): HttpResponse & { readonly body: ErrorBody } {
  const edaflow = isEdaflowError(error) ? error : undefined;
  const fastify: Partial<FastifyError> = typeof error === 'object' && error !== null ? error : {};
  const declared = edaflow ? (edaflow.status ?? (edaflow.code === 'EDA_STARTUP' ? 503 : 500)) : fastify.statusCode;
  const status = typeof declared === 'number' && declared >= 400 ? declared : 500;
  const hidden = status >= 500 && status !== 503;
  const code = edaflow?.code ?? fastify.code ?? 'EDA_INTERNAL';
  const message = hidden ? 'internal error' : error instanceof Error ? error.message : String(error);
  const details = edaflow && Object.keys(edaflow.details).length ? { details: edaflow.details } : {};
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = bearerChallenge(edaflow?.details['reason'] === 'invalid_token' ? 'invalid_token' : undefined);
  if (status === 403) headers['www-authenticate'] = bearerChallenge('insufficient_scope');
  return { status, headers, body: { error: { code, message, ...details } } };
}

function bearerChallenge(error: string | undefined): string {
  return `Bearer realm="edaflow"${error ? `, error="${error}"` : ''}`;
}

/**
 * The HTTP edge: health now; commands, queries, events and metrics register their routes here. Every
 * error answers with a JSON body `{ error: { code, message } }`, never an HTML page or an empty body.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit });
  acceptJsonOnly(app);
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const response = errorResponse(bodyError(error, bodyLimit) ?? error);
    if (response.status >= 500 && response.status !== 503) options.logger.error({ err: error }, 'request failed');
    // The rest of an oversized body is not read: the connection closes once the answer is sent.
    if (response.status === 413) void reply.header('connection', 'close');
    void reply.status(response.status).headers(response.headers).send(response.body);
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

/** The largest request body read, in bytes, unless `defaults.payloadLimit` says otherwise. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * Bodies are JSON or nothing: the text/plain parser Fastify registers by default is removed (such a body
 * is a 415), and a malformed JSON body is answered with where it breaks rather than Fastify's generic message.
 */
function acceptJsonOnly(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
  // Fastify's own parser, kept for its protection against `__proto__` / `constructor.prototype` keys.
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    parse(request, text, (error, value) => (error ? done(malformedJson(text, error)) : done(null, value)));
  });
}

/** Where a JSON text breaks, by the engine's own offset ("… at position 12"), as line and column too. */
function malformedJson(text: string, error: Error): EdaflowError {
  if (text.trim() === '') return new EdaflowError('EDA_BODY_MALFORMED', 'the body is empty but its content-type is application/json: send a JSON object');
  let reason = error.message;
  try {
    JSON.parse(text);
  } catch (syntax) {
    reason = (syntax as Error).message;
  }
  const offset = Number(/position (\d+)/.exec(reason)?.[1] ?? Number.NaN);
  if (Number.isNaN(offset)) return new EdaflowError('EDA_BODY_MALFORMED', `the body is not valid JSON: ${reason}`);
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = before.at(-1)!.length + 1;
  return new EdaflowError('EDA_BODY_MALFORMED', `the body is not valid JSON at line ${line}, column ${column}: ${reason}`, { details: { line, column, offset } });
}

/** Fastify's errors about a request's body, as edaflow's (a stable code and a message that says what to do). */
function bodyError(error: FastifyError, bodyLimit: number): EdaflowError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new EdaflowError('EDA_BODY_TOO_LARGE', `the body is larger than ${bodyLimit} bytes (defaults.payloadLimit)`, { details: { limit: bodyLimit } });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new EdaflowError('EDA_UNSUPPORTED_MEDIA_TYPE', `${error.message}: send the body as application/json`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new EdaflowError('EDA_BODY_MALFORMED', error.message);
    default:
      return undefined;
  }
}
