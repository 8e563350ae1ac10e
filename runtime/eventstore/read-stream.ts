import type { Queryable } from '../store/database.js';
import { EVENT_COLUMNS, type StoredEventRow } from './rows.js';

/** A stream's events from `fromVersion` on, in version order. */
export async function readStreamRows(db: Queryable, streamId: string, fromVersion: number): Promise<StoredEventRow[]> {
  const { rows } = await db.query<StoredEventRow>(`select ${EVENT_COLUMNS} from edaflow_events where stream_id = $1 and version >= $2 order by version`, [streamId, fromVersion]);
  return rows;
}
