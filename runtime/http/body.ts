import { EdaflowError } from '../errors/index.js';

/** The JSON body of `POST /events/<Type>` and `POST /commands/<Name>`: the data and optional envelope attributes. */
export interface MessageBody<Attribute extends string> {
  readonly data: unknown;
  readonly attributes: Partial<Record<Attribute, string>>;
}

/**
 * Reads `{ data, ...attributes }`: `data` is required (the message's payload, validated later against
 * its schema), each attribute is optional and must be a non-empty string. Unknown keys are refused,
 * so a payload sent without its `data` wrapper is a clear 400 rather than a confusing schema error.
 */
export function readMessageBody<Attribute extends string>(body: unknown, attributes: readonly Attribute[]): MessageBody<Attribute> {
  const shape = `the body must be a JSON object with \`data\`${attributes.length ? ` (and optionally ${attributes.join(', ')})` : ''}`;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('data' in body)) throw new EdaflowError('EDA_PAYLOAD_INVALID', shape);
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => key !== 'data' && !(attributes as readonly string[]).includes(key));
  if (unknown.length) throw new EdaflowError('EDA_PAYLOAD_INVALID', `${shape}; unknown: ${unknown.join(', ')}`, { details: { pointer: `/${unknown[0]}` } });
  const read: Partial<Record<Attribute, string>> = {};
  for (const name of attributes) {
    const value = record[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new EdaflowError('EDA_PAYLOAD_INVALID', `/${name} must be a non-empty string`, { details: { pointer: `/${name}` } });
    read[name] = value;
  }
  return { data: record['data'], attributes: read };
}
