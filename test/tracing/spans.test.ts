import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTraceparent, tracingActive } from '../../runtime/tracing/index.js';
import { waitFor } from '../helpers/process.js';
import { callerTraceparent, placeOrder, received, useTracedApp, type TracedBroker } from './support.js';

// With an SDK registered (in memory), an HTTP command's trace runs through the event store, the outbox,
// the broker, a handler, what the handler emits, and a saga: one trace, each span the child of the one
// that caused it.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  // Registered after edaflow's modules were loaded: spans are made from now on.
  expect(tracingActive()).toBe(true);
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

describe.each(['postgres', 'kafka', 'rabbitmq', 'nats'] as const satisfies readonly TracedBroker[])('tracing on the %s broker', (broker) => {
  const app = useTracedApp(broker);

  it('continues the caller`s trace: HTTP → append → outbox → broker → handler → what it emits → saga', async () => {
    const caller = callerTraceparent();
    const orderId = await placeOrder(app().runtime, caller.traceparent);
    const shipped = await waitFor(async () => received('OrderShipped', orderId), 60_000);
    const placed = received('OrderPlaced', orderId)!;
    const inTrace = (): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === caller.traceId);
    const named = (name: string): ReadableSpan | undefined => inTrace().find((span) => span.name === name);
    const withPrefix = (prefix: string): ReadableSpan | undefined => inTrace().find((span) => span.name.startsWith(prefix));
    // The span that ends last in the handlers' chain, and the saga's start.
    const consumedBy = (prefix: string, consumer: string) => inTrace().find((span) => span.name.startsWith(prefix) && span.attributes['edaflow.consumer'] === consumer);
    await waitFor(async () => consumedBy('consume shipments-', 'record') && named('saga Fulfil (start)→placed'), 30_000, () => inTrace().map((span) => span.name).join(', '));

    const server = named('POST /commands/:name')!;
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(server.attributes).toMatchObject({ 'http.route': '/commands/:name', 'http.response.status_code': 200, 'edaflow.outcome': 'completed' });

    const append = named(`append ${orderId}`)!;
    expect(append.parentSpanContext?.spanId).toBe(server.spanContext().spanId);

    // The event the aggregate decided carries the request's span; the outbox kept it; the relay's publish continues it.
    expect(parseTraceparent(placed.traceparent)).toMatchObject({ traceId: caller.traceId, spanId: server.spanContext().spanId });
    if (broker !== 'postgres') {
      // (The postgres broker on the event store's database takes the event in the append's own statement: no relay.)
      const relayed = withPrefix('publish orders-')!;
      expect(relayed.kind).toBe(SpanKind.PRODUCER);
      expect(relayed.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    }

    const consumeOrders = consumedBy('consume orders-', 'ship')!;
    expect(consumeOrders.kind).toBe(SpanKind.CONSUMER);
    expect(consumeOrders.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    const ship = named('handler ship')!;
    expect(ship.parentSpanContext?.spanId).toBe(consumeOrders.spanContext().spanId);

    // What the handler emitted continues from the handler's span: the next consumer is its grandchild.
    expect(parseTraceparent(shipped.traceparent)).toMatchObject({ traceId: caller.traceId, spanId: ship.spanContext().spanId });
    const published = withPrefix('publish shipments-')!;
    expect(published.parentSpanContext?.spanId).toBe(ship.spanContext().spanId);
    const consumeShipments = consumedBy('consume shipments-', 'record')!;
    expect(consumeShipments.parentSpanContext?.spanId).toBe(ship.spanContext().spanId);
    expect(named('handler record')!.parentSpanContext?.spanId).toBe(consumeShipments.spanContext().spanId);

    // The saga's start, inside the span of its consumer of OrderPlaced. (Its next step, on OrderShipped from
    // another topic, may see that event before the instance exists on Kafka: then it is recorded as unmatched.)
    const started = named('saga Fulfil (start)→placed')!;
    expect(started.attributes).toMatchObject({ 'edaflow.saga': 'Fulfil', 'edaflow.saga.from': '', 'edaflow.saga.to': 'placed' });
    // A span is exported when it ends: the saga's consumer spans end a little after its transition's.
    const parentOf = (child: ReadableSpan) => waitFor(async () => inTrace().find((span) => span.spanContext().spanId === child.parentSpanContext?.spanId), 10_000);
    const sagaHandler = await parentOf(started);
    expect(sagaHandler.name).toBe('handler Fulfil');
    expect((await parentOf(sagaHandler)).name).toBe(consumeOrders.name);
  }, 90_000);

  it('traces a command handled in this process as `handle <type>` inside the request`s span', async () => {
    const caller = callerTraceparent();
    const response = await fetch(`${app().runtime.url}/commands/Note?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent: caller.traceparent }, body: JSON.stringify({ data: {} }) });
    expect(response.status).toBe(200);
    const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === caller.traceId);
    const server = spans.find((span) => span.name === 'POST /commands/:name')!;
    expect(spans.find((span) => span.name === 'handle Note')?.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
  });
});
