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
  const contentType = header(headers, 'content-type') ?? header(headers, prefix + 'datacontenttype');
  if (contentType?.startsWith(STRUCTURED)) return decodeStructured(body);
  const attribute = (name: string): string | undefined => header(headers, prefix + name);
  const missing = ['id', 'source', 'type'].filter((name) => !attribute(name));
  if (missing.length) throw malformed(`missing CloudEvents attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const extensions: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || !lower.startsWith(prefix.toLowerCase())) continue;
    const attributeName = lower.slice(prefix.length);
    if (!(CORE as readonly string[]).includes(attributeName) && !(KNOWN_EXTENSIONS as readonly string[]).includes(attributeName) && attributeName !== 'datacontenttype') extensions[attributeName] = value;
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

function header(headers: Headers, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

function parseJson(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw malformed(`the body is not JSON: ${(error as Error).message}`);
  }
}

function malformed(message: string): EdaflowError {
  return new EdaflowError('EDA_MESSAGE_MALFORMED', message);
}
