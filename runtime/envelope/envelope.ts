import { randomUUID } from 'node:crypto';
import { activeTraceparent, traceparentFor } from '../tracing/index.js';

/**
 * A message as edaflow sees it: a CloudEvents 1.0 event with JSON data and edaflow's extensions
 * (`dataversion`, `correlationid`, `causationid`, `traceparent`). Other extension attributes of a
 * foreign producer are kept in `extensions` and travel on unchanged.
 */
export interface Envelope<Data = unknown> {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly datacontenttype: string;
  readonly subject?: string;
  /** Schema version of `data`. Absent on foreign messages: read as version 1. */
  readonly dataversion?: number;
  readonly correlationid?: string;
  readonly causationid?: string;
  readonly traceparent?: string;
  readonly extensions?: Readonly<Record<string, string>>;
  readonly data: Data;
}

export interface EnvelopeOptions {
  readonly id?: string;
  readonly subject?: string;
  readonly time?: string | Date;
  readonly dataversion?: number;
  readonly correlationid?: string;
  readonly causationid?: string;
  readonly traceparent?: string;
}

export function createEnvelope<Data>(type: string, data: Data, source: string, options: EnvelopeOptions = {}): Envelope<Data> {
  const id = options.id ?? randomUUID();
  const time = options.time instanceof Date ? options.time.toISOString() : options.time ?? new Date().toISOString();
  return {
    specversion: '1.0',
    id,
    source,
    type,
    time,
    datacontenttype: 'application/json',
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.dataversion !== undefined ? { dataversion: options.dataversion } : {}),
    // A message that starts a conversation correlates with itself, so replies can find it.
    correlationid: options.correlationid ?? id,
    ...(options.causationid !== undefined ? { causationid: options.causationid } : {}),
    // Created inside a span (an HTTP request, a handler): the message continues that trace.
    ...traceparentAttribute(options.traceparent ?? activeTraceparent()),
    data,
  };
}

/**
 * Options for a message emitted while handling `cause`: the correlation id carries over, the cause's
 * id becomes the causation id, and the trace continues (DSL.md: propagation is automatic): from the
 * active span when an SDK is tracing (so the trace chains), else from the cause's traceparent.
 */
export function causedBy(cause: Envelope, options: EnvelopeOptions = {}): EnvelopeOptions {
  return {
    correlationid: cause.correlationid ?? cause.id,
    causationid: cause.id,
    ...traceparentAttribute(traceparentFor(cause.traceparent)),
    ...options,
  };
}

function traceparentAttribute(traceparent: string | undefined): { traceparent?: string } {
  return traceparent !== undefined ? { traceparent } : {};
}
