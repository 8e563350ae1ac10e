import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';

/** CloudEvents attributes ride as SQS message attributes under this prefix (the SQS binding's `ce-`). */
export const HEADER_PREFIX = 'ce-';

/**
 * SQS accepts at most 10 message attributes per message. A CloudEvent alone can carry 11+ headers
 * (content-type, 6 core attributes, dataversion, correlationid, causationid, traceparent, custom
 * extensions), and a dead letter adds 6 metadata headers. So only content-type and the core attributes
 * (at most 7) travel as individual attributes — readable in the AWS console and by other CloudEvents
 * consumers — and every other header (extensions, edaflow's own attributes, dead-letter metadata, the
 * ordering key) is packed into one JSON attribute. At most 8 attributes per message, whatever the
 * envelope holds, leaving 2 for users' own tooling.
 */
const INDIVIDUAL = new Set(['content-type', ...['id', 'source', 'specversion', 'type', 'subject', 'time'].map((name) => HEADER_PREFIX + name)]);
export const PACKED_ATTRIBUTE = 'edaflow-headers';
/** The ordering key inside the packed attribute (standard queues ignore it; it round-trips for FIFO-minded callers). */
const KEY_HEADER = 'edaflow-key';

export interface WireEntry {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly key?: string | undefined;
}

export function toAttributes(entry: WireEntry): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  const packed: Record<string, string> = {};
  for (const [name, value] of Object.entries(entry.headers)) {
    // SQS refuses empty attribute values; the JSON attribute carries them instead.
    if (INDIVIDUAL.has(name) && value !== '') attributes[name] = { DataType: 'String', StringValue: value };
    else packed[name] = value;
  }
  if (entry.key !== undefined) packed[KEY_HEADER] = entry.key;
  if (Object.keys(packed).length) attributes[PACKED_ATTRIBUTE] = { DataType: 'String', StringValue: JSON.stringify(packed) };
  return attributes;
}

/** Headers, body and key of a received message; string attributes written by other producers become headers as they are. */
export function fromMessage(message: Message): { headers: Record<string, string>; body: Buffer; key?: string } {
  const headers: Record<string, string> = {};
  for (const [name, attribute] of Object.entries(message.MessageAttributes ?? {})) {
    if (attribute.StringValue === undefined) continue;
    if (name === PACKED_ATTRIBUTE) Object.assign(headers, unpack(attribute.StringValue));
    else headers[name] = attribute.StringValue;
  }
  const key = headers[KEY_HEADER];
  // Deleted only when there: a delete turns the object into a slow dictionary for every later read.
  if (key !== undefined) delete headers[KEY_HEADER];
  return { headers, body: Buffer.from(message.Body ?? '', 'utf8'), ...(key !== undefined ? { key } : {}) };
}

/** Bytes a message counts against the SQS size limit (body plus attribute names, types and values). */
export function wireSize(body: Buffer, attributes: Readonly<Record<string, MessageAttributeValue>>): number {
  let size = body.length;
  for (const [name, value] of Object.entries(attributes)) size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '') + Buffer.byteLength(value.StringValue ?? '');
  return size;
}

function unpack(text: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object') return {};
    return Object.fromEntries(Object.entries(parsed).filter((pair): pair is [string, string] => typeof pair[1] === 'string'));
  } catch {
    // A foreign producer's attribute of the same name: the pipeline reports what is then missing.
    return {};
  }
}
