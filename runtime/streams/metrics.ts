import { Counter, Gauge, type Registry } from 'prom-client';
import type { Metrics } from '../observability/metrics.js';

/** The streams' Prometheus metrics, registered once per runtime registry. */
export interface StreamMetrics {
  /** Input records by outcome: `kept` (taken into the stream), `late`, `no-key`, `no-time`, `duplicate`, `filtered`, `invalid-output`. */
  readonly records: Counter<'stream' | 'outcome'>;
  readonly outputs: Counter<'stream'>;
  readonly buffered: Gauge<'stream'>;
}

export function streamMetrics(metrics: Metrics | undefined): StreamMetrics | undefined {
  if (!metrics) return undefined;
  const registry = metrics.registry;
  return {
    records: existing<Counter<'stream' | 'outcome'>>(registry, 'edaflow_stream_records_total') ?? new Counter({ name: 'edaflow_stream_records_total', help: 'Stream input records, by stream and outcome (kept, late, no-key, duplicate, filtered, ...).', labelNames: ['stream', 'outcome'] as const, registers: [registry] }),
    outputs: existing<Counter<'stream'>>(registry, 'edaflow_stream_outputs_total') ?? new Counter({ name: 'edaflow_stream_outputs_total', help: 'Events emitted by streams.', labelNames: ['stream'] as const, registers: [registry] }),
    buffered: existing<Gauge<'stream'>>(registry, 'edaflow_stream_buffered_records') ?? new Gauge({ name: 'edaflow_stream_buffered_records', help: 'Records a stream holds in its join buffers and open windows.', labelNames: ['stream'] as const, registers: [registry] }),
  };
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}
