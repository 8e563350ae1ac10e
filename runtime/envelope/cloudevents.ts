import { EdaflowError } from '../errors/index.js';
import type { Envelope } from './envelope.js';

/** Message headers as brokers carry them: strings (binary values are decoded by the adapter). */
export type Headers = Readonly<Record<string, string | undefined>>;

export interface WireMessage {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

const CORE = ['id', 'source', 'specversion', 'type', 'subject', 'time'] as const;
const KNOWN_EXTENSIONS = ['dataversion', 'correlationid', 'causationid', 'traceparent'] as const;
const STRUCTURED = 'application/cloudevents+json';
/** Attributes decode() reads by name: every other prefixed header is an extension. */
const NAMED_ATTRIBUTES: ReadonlySet<string> = new Set([...CORE, ...KNOWN_EXTENSIONS, 'datacontenttype']);

/**
 * CloudEvents binary content mode: attributes in headers under a binding-specific prefix (`ce_` for
 * Kafka, `cloudEvents:` for AMQP, `ce-` for HTTP, NATS and SQS), `content-type` for datacontenttype,
 * the data as the body.
 */
export function encodeBinary(envelope: Envelope, prefix: string): WireMessage {
  const headers: Record<string, string> = { 'content-type': envelope.datacontenttype };
  for (const name of CORE) {
    const value = envelope[name];
    if (value !== undefined) headers[prefix + name] = String(value);
  }
  for (const name of KNOWN_EXTENSIONS) {
    const value = envelope[name];
    if (value !== undefined) headers[prefix + name] = String(value);
  }
  for (const [name, value] of Object.entries(envelope.extensions ?? {})) headers[prefix + name] = value;
  return { headers, body: Buffer.from(JSON.stringify(envelope.data)) };
}

/**
 * Reads a message in binary or structured mode. Throws a non-retriable EdaflowError with code
 * EDA_MESSAGE_MALFORMED when required attributes are missing or the body is not JSON; the pipeline
 * dead-letters such a message at once.
 */
export function decode(headers: Headers, body: Buffer | string, prefix: string): Envelope {
  const { contentType, attributes } = readHeaders(headers, prefix);
  if (contentType?.startsWith(STRUCTURED)) return decodeStructured(body);
  if (!attributes['id'] || !attributes['source'] || !attributes['type']) {
    const missing = ['id', 'source', 'type'].filter((name) => !attributes[name]);
    throw malformed(`missing CloudEvents attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  }
  const extensions: Record<string, string> = {};
  for (const name in attributes) if (!NAMED_ATTRIBUTES.has(name)) extensions[name] = attributes[name]!;
  return build({
    id: attributes['id'],
    source: attributes['source'],
    specversion: attributes['specversion'],
    type: attributes['type'],
    subject: attributes['subject'],
    time: attributes['time'],
    datacontenttype: contentType,
    dataversion: attributes['dataversion'],
    correlationid: attributes['correlationid'],
    causationid: attributes['causationid'],
    traceparent: attributes['traceparent'],
    extensions,
    data: parseJson(body),
  });
}

/**
 * The content type and the prefixed attributes (by lower-cased name), in one pass over the headers:
 * this runs for every message consumed. Header names are case-insensitive in most bindings; of two
 * spellings of one name the binding's own (exact) one wins, else the first.
 */
function readHeaders(headers: Headers, prefix: string): { contentType: string | undefined; attributes: Record<string, string> } {
  const lowerPrefix = prefix.toLowerCase();
  // No prototype: a header may be named anything, `ce-__proto__` included.
  const attributes: Record<string, string> = Object.create(null) as Record<string, string>;
  let contentType: string | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'content-type') {
      if (name === lower || contentType === undefined) contentType = value;
    } else if (lower.startsWith(lowerPrefix)) {
      const attribute = lower.slice(lowerPrefix.length);
      if (attributes[attribute] === undefined || name === prefix + attribute) attributes[attribute] = value;
    }
  }
  return { contentType: contentType ?? attributes['datacontenttype'], attributes };
}

function decodeStructured(body: Buffer | string): Envelope {
  const parsed = parseJson(body);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw malformed('a structured CloudEvent must be a JSON object');
  const event = parsed as Record<string, unknown>;
  const extensions: Record<string, string> = {};
  for (const [name, value] of Object.entries(event)) {
    if (![...CORE, ...KNOWN_EXTENSIONS, 'datacontenttype', 'data', 'data_base64'].includes(name) && value !== undefined) extensions[name] = String(value);
  }
  const text = (name: string): string | undefined => (event[name] === undefined ? undefined : String(event[name]));
  return build({
    id: text('id'), source: text('source'), specversion: text('specversion'), type: text('type'), subject: text('subject'), time: text('time'),
    datacontenttype: text('datacontenttype'), dataversion: text('dataversion'), correlationid: text('correlationid'), causationid: text('causationid'), traceparent: text('traceparent'),
    extensions, data: event['data'],
  });
}

interface Attributes {
  id: string | undefined; source: string | undefined; specversion: string | undefined; type: string | undefined; subject: string | undefined; time: string | undefined;
  datacontenttype: string | undefined; dataversion: string | undefined; correlationid: string | undefined; causationid: string | undefined; traceparent: string | undefined;
  extensions: Record<string, string>; data: unknown;
}

function build(a: Attributes): Envelope {
  if (!a.id || !a.source || !a.type) throw malformed(`missing CloudEvents attribute id, source or type`);
  if (a.specversion !== undefined && a.specversion !== '1.0') throw malformed(`unsupported CloudEvents specversion "${a.specversion}"`);
  const version = a.dataversion === undefined ? undefined : Number(a.dataversion);
  if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw malformed(`dataversion "${a.dataversion}" is not a version number`);
  // Assigned one by one, not spread from conditional objects: this runs for every message consumed.
  const envelope: { -readonly [K in keyof Envelope]: Envelope[K] } = {
    specversion: '1.0', id: a.id, source: a.source, type: a.type, time: a.time ?? EPOCH, datacontenttype: a.datacontenttype ?? 'application/json', data: a.data,
  };
  if (a.subject !== undefined) envelope.subject = a.subject;
  if (version !== undefined) envelope.dataversion = version;
  if (a.correlationid !== undefined) envelope.correlationid = a.correlationid;
  if (a.causationid !== undefined) envelope.causationid = a.causationid;
  if (a.traceparent !== undefined) envelope.traceparent = a.traceparent;
  if (Object.keys(a.extensions).length) envelope.extensions = a.extensions;
  return envelope;
}

const EPOCH = new Date(0).toISOString();

/** `body` parsed as JSON; EDA_MESSAGE_MALFORMED naming `what` when it is not. */
export function parseJson(body: Buffer | string, what = 'the body'): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw malformed(`${what} is not JSON: ${(error as Error).message}`);
  }
}

function malformed(message: string): EdaflowError {
  return new EdaflowError('EDA_MESSAGE_MALFORMED', message);
}
