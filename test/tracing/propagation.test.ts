import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { causedBy, createEnvelope } from '../../runtime/envelope/index.js';
import { activeTraceparent, formatTraceparent, parseTraceparent, traceparentFor } from '../../runtime/tracing/index.js';
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
