import type { Queryable } from '../store/database.js';

/** The version of a stream's last event; 0 when it has none (an index-only lookup on (stream_id, version)). */
export async function readStreamVersion(db: Queryable, streamId: string): Promise<number> {
  const { rows } = await db.query<{ version: number | null }>('select max(version) as version from edaflow_events where stream_id = $1', [streamId]);
  return rows[0]?.version ?? 0;
}
