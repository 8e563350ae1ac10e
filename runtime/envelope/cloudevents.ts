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
  // Header names are case-insensitive in most bindings: one pass lower-cases them all, rather than a
  // scan of every header for each attribute that is absent (this runs for every message consumed).
  const lowerCased = lowerCaseNames(headers);
  const header = (name: string): string | undefined => headers[name] ?? lowerCased.get(name.toLowerCase());
  const contentType = header('content-type') ?? header(prefix + 'datacontenttype');
  if (contentType?.startsWith(STRUCTURED)) return decodeStructured(body);
  const attribute = (name: string): string | undefined => header(prefix + name);
  const missing = ['id', 'source', 'type'].filter((name) => !attribute(name));
  if (missing.length) throw malformed(`missing CloudEvents attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const extensions: Record<string, string> = {};
  const lowerPrefix = prefix.toLowerCase();
  for (const [lower, value] of lowerCased) {
    if (!lower.startsWith(lowerPrefix)) continue;
    const attributeName = lower.slice(prefix.length);
    if (!NAMED_ATTRIBUTES.has(attributeName)) extensions[attributeName] = value;
  }
  return build({
    id: attribute('id'),
    source: attribute('source'),
    specversion: attribute('specversion'),
    type: attribute('type'),
    subject: attribute('subject'),
    time: attribute('time'),
    datacontenttype: contentType,
    dataversion: attribute('dataversion'),
    correlationid: attribute('correlationid'),
    causationid: attribute('causationid'),
    traceparent: attribute('traceparent'),
    extensions,
    data: parseJson(body),
  });
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
  return {
    specversion: '1.0',
    id: a.id,
    source: a.source,
    type: a.type,
    time: a.time ?? new Date(0).toISOString(),
    datacontenttype: a.datacontenttype ?? 'application/json',
    ...(a.subject !== undefined ? { subject: a.subject } : {}),
    ...(version !== undefined ? { dataversion: version } : {}),
    ...(a.correlationid !== undefined ? { correlationid: a.correlationid } : {}),
    ...(a.causationid !== undefined ? { causationid: a.causationid } : {}),
    ...(a.traceparent !== undefined ? { traceparent: a.traceparent } : {}),
    ...(Object.keys(a.extensions).length ? { extensions: a.extensions } : {}),
    data: a.data,
  };
}

/** Header values by lower-cased name; of names that differ only in case, the first one counts. */
function lowerCaseNames(headers: Headers): Map<string, string> {
  const result = new Map<string, string>();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (!result.has(lower)) result.set(lower, value);
  }
  return result;
}

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
