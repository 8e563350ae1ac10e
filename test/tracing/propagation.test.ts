import { randomUUID } from 'node:crypto';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { describe, expect, it } from 'vitest';
import { causedBy, createEnvelope } from '../../runtime/envelope/index.js';
import { activeTraceparent, formatTraceparent, parseTraceparent, traced, traceparentFor, tracingActive } from '../../runtime/tracing/index.js';
import { waitFor } from '../helpers/process.js';
import { callerTraceparent, placeOrder, received, useTracedApp, type TracedBroker } from './support.js';

// No SDK is registered in this file: tracing is OpenTelemetry's no-op, and the caller's traceparent
// still travels unchanged on every message the request causes.

describe('the W3C traceparent', () => {
  it('parses and formats version 00, and ignores malformed, all-zero and forbidden values', () => {
    const { traceparent, traceId, spanId } = callerTraceparent();
    expect(parseTraceparent(traceparent)).toEqual({ traceId, spanId, traceFlags: 1, isRemote: true });
    expect(formatTraceparent(parseTraceparent(traceparent)!)).toBe(traceparent);
    expect(parseTraceparent(`00-${traceId}-${spanId}-00`)?.traceFlags).toBe(0);
    // A later version may append fields; version 00 may not.
    expect(parseTraceparent(`01-${traceId}-${spanId}-01-extra`)).toMatchObject({ traceId, spanId });
    for (const bad of [`00-${traceId}-${spanId}-01-extra`, `ff-${traceId}-${spanId}-01`, `00-${'0'.repeat(32)}-${spanId}-01`, `00-${traceId}-${'0'.repeat(16)}-01`, `00-${traceId.toUpperCase()}-${spanId}-01`, 'garbage', '']) {
      expect(parseTraceparent(bad), bad).toBeUndefined();
    }
  });

  it('without an SDK no span is active: a message caused by another carries the cause`s traceparent as it came', () => {
    const { traceparent } = callerTraceparent();
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(activeTraceparent()).toBeUndefined();
    expect(traceparentFor(traceparent)).toBe(traceparent);
    const cause = createEnvelope('OrderPlaced', {}, 'test', { traceparent: 'from-a-foreign-tracer' });
    expect(createEnvelope('OrderShipped', {}, 'test', causedBy(cause)).traceparent).toBe('from-a-foreign-tracer');
    expect(createEnvelope('OrderShipped', {}, 'test').traceparent).toBeUndefined();
  });
});

describe('spans without an SDK', () => {
  it('are skipped: a traced handler runs as it is, its result and its errors unchanged', async () => {
    expect(tracingActive()).toBe(false);
    const message = { id: 'm-1', type: 'OrderPlaced', traceparent: callerTraceparent().traceparent };
    const seen: (string | undefined)[] = [];
    const handle = traced('audit', 'orders', async (received: typeof message, attempt: number) => {
      seen.push(activeTraceparent());
      if (attempt > 1) throw new Error(`attempt ${attempt} failed`);
      return `handled ${received.id}`;
    });
    await expect(handle(message, 1)).resolves.toBe('handled m-1');
    await expect(handle(message, 2)).rejects.toThrow('attempt 2 failed');
    expect(seen).toEqual([undefined, undefined]);
  });

  it('are made when a context manager carries the active context, so what a handler emits continues the message`s trace', async () => {
    const manager = new AsyncLocalStorageContextManager();
    context.setGlobalContextManager(manager.enable());
    try {
      expect(tracingActive()).toBe(true);
      const { traceparent } = callerTraceparent();
      const handle = traced('audit', 'orders', async () => activeTraceparent());
      // No tracer provider: the spans are OpenTelemetry's no-op ones, which keep the message's span context.
      await expect(handle({ id: 'm-2', type: 'OrderPlaced', traceparent })).resolves.toBe(traceparent);
    } finally {
      context.disable();
    }
    expect(tracingActive()).toBe(false);
  });
});

describe.each(['postgres', 'kafka', 'rabbitmq', 'nats'] as const satisfies readonly TracedBroker[])('without an SDK, on the %s broker', (broker) => {
  const app = useTracedApp(broker);

  it('carries the caller`s traceparent through the event store, the outbox, the broker and what a handler emits', async () => {
    const caller = callerTraceparent();
    const orderId = await placeOrder(app().runtime, caller.traceparent);
    const shipped = await waitFor(async () => received('OrderShipped', orderId), 60_000);
    expect(received('OrderPlaced', orderId)!.traceparent).toBe(caller.traceparent);
    expect(shipped.traceparent).toBe(caller.traceparent);
    const stored = await app().runtime.eventStore.readStream(orderId);
    expect(stored.map((event) => event.envelope.traceparent)).toEqual([caller.traceparent]);
  }, 90_000);

  it('stamps an event published over HTTP with the caller`s traceparent, and leaves one without it unstamped', async () => {
    const caller = callerTraceparent();
    const [traced, untraced, malformed] = ['traced', 'untraced', 'malformed'].map((name) => `o-${name}-${randomUUID().slice(0, 8)}`) as [string, string, string];
    const post = (orderId: string, headers: Record<string, string>) =>
      fetch(`${app().runtime.url}/events/OrderPlaced`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ data: { orderId } }) });
    expect((await post(traced, { traceparent: caller.traceparent })).status).toBe(202);
    expect((await post(untraced, {})).status).toBe(202);
    expect((await post(malformed, { traceparent: 'nonsense' })).status).toBe(202);
    expect((await waitFor(async () => received('OrderShipped', traced), 60_000)).traceparent).toBe(caller.traceparent);
    expect((await waitFor(async () => received('OrderShipped', untraced), 60_000)).traceparent).toBeUndefined();
    expect((await waitFor(async () => received('OrderShipped', malformed), 60_000)).traceparent).toBeUndefined();
  }, 90_000);
});
