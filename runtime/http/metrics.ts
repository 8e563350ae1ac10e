import { Counter } from 'prom-client';
import type { Metrics } from '../observability/metrics.js';

export { outcomeOf, type Outcome } from '../audit/index.js';

/** Counters of the command and query API, on the runtime's registry (served on /metrics). */
export class HttpMetrics {
  readonly commands: Counter<'command' | 'outcome'>;
  readonly queries: Counter<'query' | 'outcome'>;

  constructor(metrics: Metrics) {
    this.commands = new Counter({ name: 'edaflow_http_commands_total', help: 'Commands received over HTTP, by command and outcome.', labelNames: ['command', 'outcome'] as const, registers: [metrics.registry] });
    this.queries = new Counter({ name: 'edaflow_http_queries_total', help: 'Queries answered over HTTP, by query and outcome.', labelNames: ['query', 'outcome'] as const, registers: [metrics.registry] });
  }
}
