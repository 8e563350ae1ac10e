import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CommandBus } from '../aggregates/index.js';
import { ANONYMOUS_USER, auditCommand } from '../audit/index.js';
import { annotateActiveSpan, parseTraceparent } from '../tracing/index.js';
import type { Definitions } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { Publisher } from '../messaging/publisher.js';
import type { Logger } from '../observability/logger.js';
import type { QueryService } from '../queries/index.js';
import type { Authenticate, Principal } from './auth.js';
import type { IdempotencyStore } from './idempotency.js';
import { outcomeOf, type HttpMetrics, type Outcome } from './metrics.js';
import { errorResponse, type HttpResponse } from './server.js';

/** What the command and query routes use; they exist before it does (HTTP starts first), hence a getter. */
export interface ApiServices {
  readonly catalog: MessageCatalog;
  readonly publisher: Publisher;
  readonly commandBus: CommandBus;
  readonly queries: QueryService;
  readonly idempotency: IdempotencyStore;
}

export interface ApiOptions {
  readonly definitions: Definitions;
  readonly logger: Logger;
  readonly metrics?: HttpMetrics;
  /** The request verifier for routes with `roles`; without one such routes always answer 401. */
  readonly authenticate?: Authenticate;
  /** Undefined until every component the API needs has started (requests meanwhile get 503). */
  readonly services: () => ApiServices | undefined;
  /** Counts requests being served, so stopping can wait for them before their components stop. */
  readonly inFlight?: InFlightRequests;
}

/** The requests being served right now; `drained()` resolves once none are. */
export class InFlightRequests {
  private count = 0;
  private waiters: (() => void)[] = [];

  enter(): void {
    this.count++;
  }

  leave(): void {
    if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  drained(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

export function readyServices<T>(services: () => T | undefined): T {
  const current = services();
  if (!current) throw new EdaflowError('EDA_STARTUP', 'not ready yet: the runtime is starting');
  return current;
}

/** One request's record: what it was, who sent it, and what became of it. */
export interface RequestRecord {
  readonly kind: 'command' | 'query';
  /** The declared name, or undefined for a name the definitions do not declare (kept out of metric labels). */
  readonly name: string | undefined;
  readonly requested: string;
  readonly principal: Principal | undefined;
  readonly response: HttpResponse;
  readonly replayed?: boolean;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * Counts the request by name and outcome and logs one structured line (user, id, outcome). Commands
 * write the audit line (auditCommand, info): who changed what; queries log at debug.
 */
export function recordRequest(options: ApiOptions, record: RequestRecord): Outcome {
  const code = (record.response.body as { error?: { code?: string } } | undefined)?.error?.code;
  const outcome: Outcome = record.replayed ? 'replayed' : outcomeOf(record.response.status, code);
  const label = record.name ?? '(unknown)';
  const user = record.principal?.subject ?? ANONYMOUS_USER;
  const fields: Record<string, unknown> = { status: record.response.status, ...(code ? { code } : {}), ...record.fields };
  annotateActiveSpan({ 'http.response.status_code': record.response.status, 'edaflow.outcome': outcome, ...(code ? { 'error.type': code } : {}) });
  if (record.kind === 'command') {
    options.metrics?.commands.inc({ command: label, outcome });
    auditCommand(options.logger, { user, command: record.requested, id: typeof fields['id'] === 'string' ? fields['id'] : undefined, outcome, via: 'http', fields });
  } else {
    options.metrics?.queries.inc({ query: label, outcome });
    options.logger.debug({ query: record.requested, user, outcome, ...fields }, 'query');
  }
  return outcome;
}

/**
 * Runs a route's work, records what became of it (also when it throws: the error's mapped response),
 * and sends the answer. Errors still go to the server's error handler, the one place that answers them.
 */
export async function handleRecorded(
  options: ApiOptions,
  reply: FastifyReply,
  base: Omit<RequestRecord, 'response' | 'principal' | 'replayed'>,
  work: (context: { principal?: Principal; fields: Record<string, unknown> }) => Promise<{ response: HttpResponse; replayed?: boolean }>,
): Promise<FastifyReply> {
  const context: { principal?: Principal; fields: Record<string, unknown> } = { fields: {} };
  let result: { response: HttpResponse; replayed?: boolean };
  options.inFlight?.enter();
  try {
    result = await work(context);
  } catch (error) {
    recordRequest(options, { ...base, principal: context.principal, response: errorResponse(error), fields: context.fields });
    throw error;
  } finally {
    options.inFlight?.leave();
  }
  recordRequest(options, { ...base, principal: context.principal, response: result.response, replayed: result.replayed ?? false, fields: context.fields });
  return reply.status(result.response.status).headers(result.response.headers).send(result.response.body);
}

/** Query string values by name; a parameter given twice is refused rather than guessed at. */
export function singleValued(query: FastifyRequest['query'], code: 'EDA_REQUEST_INVALID' | 'EDA_QUERY_INVALID'): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new EdaflowError(code, `query parameter "${name}" is given more than once`);
    values[name] = value;
  }
  return values;
}

/** The caller's W3C `traceparent` header, when it sent exactly one valid one (a malformed one is ignored, as the W3C spec says). */
export function traceparentHeader(request: FastifyRequest): string | undefined {
  const value = request.headers['traceparent'];
  return typeof value === 'string' && parseTraceparent(value) ? value.trim() : undefined;
}
