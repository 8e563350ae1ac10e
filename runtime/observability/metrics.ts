import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus metrics, served on `/metrics`. One registry per runtime (not prom-client's
 * global one), so tests and several runtimes in one process never mix their numbers.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly messages = new Counter({ name: 'edaflow_messages_total', help: 'Messages consumed, by consumer and outcome.', labelNames: ['consumer', 'outcome'] as const, registers: [this.registry] });
  readonly deadLetters = new Gauge({ name: 'edaflow_dlq_messages', help: 'Messages waiting in a dead-letter destination.', labelNames: ['destination'] as const, registers: [this.registry] });
  readonly alerts = new Gauge({ name: 'edaflow_alert_active', help: '1 while an alert threshold is crossed.', labelNames: ['alert', 'subject'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'edaflow_process_' });
  }
}
