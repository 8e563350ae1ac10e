import type { Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { RecordedEvent } from './types.js';

/** The columns every read selects, in the shape `toRecordedEvent` takes. */
export const EVENT_COLUMNS = 'position::text as position, stream_id, version, data_version, data, metadata';

export interface StoredEventRow {
  readonly position: string;
  readonly stream_id: string;
  readonly version: number;
  readonly data_version: number;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
}

/** What is stored of an envelope besides its data: every other attribute, as they were. */
export function metadataOf(envelope: Envelope): Record<string, unknown> {
  const { data: _data, ...attributes } = envelope;
  return attributes;
}

/**
 * A stored row as a RecordedEvent, its data upcast to the latest version. Rows already at the latest
 * version were validated when appended, so only older ones go through the catalog (which validates
 * them as their version, then upcasts step by step).
 */
export async function toRecordedEvent(row: StoredEventRow, catalog: MessageCatalog): Promise<RecordedEvent> {
  const stored = { ...row.metadata, dataversion: row.data_version, data: row.data } as Envelope;
  const position = Number(row.position);
  const envelope = row.data_version >= catalog.latestVersion(stored.type) ? stored : await upcast(stored, catalog, position);
  return { position, streamId: row.stream_id, version: row.version, envelope };
}

async function upcast(stored: Envelope, catalog: MessageCatalog, position: number): Promise<Envelope> {
  const result = await catalog.toLatest(stored);
  if ('envelope' in result) return result.envelope;
  const { pointer, message } = result.problem;
  throw new EdaflowError('EDA_PAYLOAD_INVALID', `stored event ${stored.type} v${stored.dataversion ?? 1} at position ${position} cannot be read: ${pointer || '/'} ${message}`, {
    details: { position, eventId: stored.id, pointer },
  });
}
