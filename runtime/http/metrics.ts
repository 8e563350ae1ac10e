import { Counter } from 'prom-client';
import type { Metrics } from '../observability/metrics.js';

/** What became of an HTTP command or query request, as a metric label and in the request's log line. */
export type Outcome =
  | 'accepted' // 202: sent on (queue or in-process)
  | 'completed' // 200: the aggregate appended / the query answered
  | 'replayed' // the stored first response to the same Idempotency-Key
  | 'rejected' // 409: the aggregate refused it (`reject`)
  | 'conflict' // 409: concurrency conflict, or the Idempotency-Key is in use
  | 'invalid' // 400 / 422
  | 'not_found' // 404
  | 'unauthenticated' // 401
  | 'forbidden' // 403
  | 'unavailable' // 503: not ready yet
  | 'failed'; // other 5xx

export function outcomeOf(status: number, code: string | undefined): Outcome {
  if (status === 202) return 'accepted';
  if (status < 300) return 'completed';
  if (status === 409) return code === 'EDA_COMMAND_REJECTED' ? 'rejected' : 'conflict';
  if (status === 400 || status === 422) return 'invalid';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  return status === 503 ? 'unavailable' : 'failed';
}

/** Counters of the command and query API, on the runtime's registry (served on /metrics). */
export class HttpMetrics {
  readonly commands: Counter<'command' | 'outcome'>;
  readonly queries: Counter<'query' | 'outcome'>;

  constructor(metrics: Metrics) {
    this.commands = new Counter({ name: 'edaflow_http_commands_total', help: 'Commands received over HTTP, by command and outcome.', labelNames: ['command', 'outcome'] as const, registers: [metrics.registry] });
    this.queries = new Counter({ name: 'edaflow_http_queries_total', help: 'Queries answered over HTTP, by query and outcome.', labelNames: ['query', 'outcome'] as const, registers: [metrics.registry] });
  }
}
