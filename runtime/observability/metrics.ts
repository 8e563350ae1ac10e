import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConsumerKind } from '../messaging/topology.js';
import type { Outcome } from '../pipeline/consumer.js';
import { ErrorRateWindow } from './error-rate.js';

/** Outcomes that count as errors in the error rate: the attempt failed. */
const FAILED: ReadonlySet<Outcome> = new Set(['retried', 'dead-lettered']);

/**
 * The process's Prometheus metrics, served on `/metrics`. One registry per runtime (not prom-client's
 * global one), so tests and several runtimes in one process never mix their numbers.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly messages = new Counter({ name: 'edaflow_messages_total', help: 'Messages consumed, by consumer and outcome.', labelNames: ['consumer', 'outcome'] as const, registers: [this.registry] });
  readonly processing = new Histogram({
    name: 'edaflow_message_processing_seconds',
    help: 'Time from a delivery reaching the consumer pipeline to its outcome, by consumer kind (handler, aggregate, projection, saga, stream), consumer and outcome.',
    labelNames: ['kind', 'consumer', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly deadLetters = new Gauge({ name: 'edaflow_dlq_messages', help: 'Messages waiting in a dead-letter destination.', labelNames: ['destination'] as const, registers: [this.registry] });
  readonly consumerLag = new Gauge({
    name: 'edaflow_consumer_lag',
    help: 'Messages a consumer group has not consumed yet, from the broker\'s own numbers (measured every defaults.alerts.checkEvery).',
    labelNames: ['kind', 'consumer', 'broker', 'destination', 'group'] as const,
    registers: [this.registry],
  });
  readonly projectionLag = new Gauge({ name: 'edaflow_projection_lag', help: 'Events in the event store a projection fed by it has not applied yet.', labelNames: ['projection'] as const, registers: [this.registry] });
  readonly outboxBacklog = new Gauge({ name: 'edaflow_outbox_backlog', help: 'Outbox rows by state: pending (waiting for the relay) or dead (the relay gave up on them).', labelNames: ['state'] as const, registers: [this.registry] });
  readonly alerts = new Gauge({ name: 'edaflow_alert_active', help: '1 while an alert threshold is crossed.', labelNames: ['alert', 'subject'] as const, registers: [this.registry] });
  readonly appendSeconds = new Histogram({ name: 'edaflow_eventstore_append_seconds', help: 'Time of one event store append (its outbox rows included).', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly appendEvents = new Histogram({ name: 'edaflow_eventstore_append_events', help: 'Events written by one event store append.', buckets: [1, 2, 5, 10, 20, 50, 100, 500, 1000], registers: [this.registry] });
  private readonly windows = new Map<string, { kind: ConsumerKind; consumer: string; window: ErrorRateWindow }>();

  constructor(private readonly options: { readonly errorRateWindowMs?: number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'edaflow_process_' });
    const windows = this.windows;
    new Gauge({
      name: 'edaflow_consumer_error_rate',
      help: 'Share of a consumer\'s deliveries of the last 5 minutes that failed (retried or dead-lettered); absent without deliveries.',
      labelNames: ['kind', 'consumer'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { kind, consumer, window } of windows.values()) {
          const rate = window.rate();
          if (rate !== undefined) this.set({ kind, consumer }, rate);
        }
      },
    });
  }

  /** Counts one delivery's outcome and how long it took (the pipeline's whole work on it). */
  recordDelivery(kind: ConsumerKind, consumer: string, outcome: Outcome, seconds: number): void {
    this.messages.inc({ consumer, outcome });
    this.processing.observe({ kind, consumer, outcome }, seconds);
    this.window(kind, consumer).record(FAILED.has(outcome));
  }

  /** Runs one event store append, observing its time and, once it succeeded, its event count. */
  async timeAppend<T>(events: number, append: () => Promise<T>): Promise<T> {
    const stop = this.appendSeconds.startTimer();
    try {
      const result = await append();
      this.appendEvents.observe(events);
      return result;
    } finally {
      stop();
    }
  }

  /** The consumer's error rate over the window, or undefined when it had no delivery in it. */
  errorRate(kind: ConsumerKind, consumer: string): number | undefined {
    return this.windows.get(`${kind}:${consumer}`)?.window.rate();
  }

  private window(kind: ConsumerKind, consumer: string): ErrorRateWindow {
    const key = `${kind}:${consumer}`;
    let entry = this.windows.get(key);
    if (!entry) this.windows.set(key, (entry = { kind, consumer, window: new ErrorRateWindow(this.options.errorRateWindowMs) }));
    return entry.window;
  }
}
