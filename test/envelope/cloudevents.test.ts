import { describe, expect, it } from 'vitest';
import { causedBy, createEnvelope, decode, encodeBinary } from '../../runtime/envelope/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';

describe('CloudEvents envelope', () => {
  it('round-trips through binary mode under any binding prefix, extensions included', () => {
    const envelope = { ...createEnvelope('OrderCreated', { orderId: 'o1' }, 'shop', { subject: 'o1', dataversion: 2, time: '2026-01-01T00:00:00.000Z' }), extensions: { tenant: 'acme' } };
    for (const prefix of ['ce_', 'ce-', 'cloudEvents:']) {
      const wire = encodeBinary(envelope, prefix);
      expect(wire.headers[`${prefix}type`]).toBe('OrderCreated');
      expect(decode(wire.headers, wire.body, prefix)).toEqual(envelope);
    }
  });

  it('reads header names in any case; of two spellings of one name the exact one wins, else the first', () => {
    const envelope = decode({
      'CE-ID': 'upper', 'ce-Source': 'mixed', 'Ce-Type': 't', 'ce-type': 'exact', 'CE-TENANT': 'first', 'Ce-Tenant': 'second', 'Content-Type': 'application/json', 'ce-DataVersion': '2',
    }, '{"x":1}', 'ce-');
    expect(envelope).toMatchObject({ id: 'upper', source: 'mixed', type: 'exact', dataversion: 2, datacontenttype: 'application/json', extensions: { tenant: 'first' }, data: { x: 1 } });
    const amqp = decode({ 'cloudevents:id': 'lower', 'cloudEvents:source': 's', 'cloudEvents:type': 't', 'CLOUDEVENTS:TYPE': 'other' }, '{}', 'cloudEvents:');
    expect(amqp).toMatchObject({ id: 'lower', source: 's', type: 't' });
    expect(decode({ 'CONTENT-TYPE': 'application/cloudevents+json' }, JSON.stringify({ id: 'x', source: 's', type: 't', data: 1 }), 'ce-')).toMatchObject({ id: 'x', data: 1 });
  });

  it('accepts a structured-mode CloudEvent from another producer, reading a missing dataversion as absent', () => {
    const body = JSON.stringify({ specversion: '1.0', id: 'x1', source: 'other', type: 'OrderCreated', time: '2026-01-01T00:00:00Z', data: { orderId: 'o2' }, partner: 'p' });
    const envelope = decode({ 'content-type': 'application/cloudevents+json' }, body, 'ce-');
    expect(envelope).toMatchObject({ id: 'x1', source: 'other', type: 'OrderCreated', data: { orderId: 'o2' }, extensions: { partner: 'p' } });
    expect(envelope.dataversion).toBeUndefined();
  });

  it('refuses a message without the required attributes or with a body that is not JSON', () => {
    const missing = (): unknown => decode({ 'ce-id': '1', 'ce-source': 's' }, '{}', 'ce-');
    expect(missing).toThrowError(/missing CloudEvents attribute type/);
    try {
      decode({ 'ce-id': '1', 'ce-source': 's', 'ce-type': 't' }, '{oops', 'ce-');
      expect.unreachable();
    } catch (error) {
      expect(isEdaflowError(error, 'EDA_MESSAGE_MALFORMED')).toBe(true);
    }
  });

  it('carries correlation and causation from the message being handled', () => {
    const cause = createEnvelope('OrderCreated', {}, 'shop', { traceparent: '00-abc-def-01' });
    const effect = createEnvelope('InventoryReserved', {}, 'shop', causedBy(cause));
    expect(cause.correlationid).toBe(cause.id);
    expect(effect).toMatchObject({ correlationid: cause.id, causationid: cause.id, traceparent: '00-abc-def-01' });
    const next = createEnvelope('PaymentProcessed', {}, 'shop', causedBy(effect));
    expect(next).toMatchObject({ correlationid: cause.id, causationid: effect.id });
  });
});
