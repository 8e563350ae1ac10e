import type { Queryable } from '../store/database.js';

/** The stream's snapshot: its state as of `version`. */
export async function loadSnapshot(db: Queryable, streamId: string): Promise<{ version: number; state: unknown } | undefined> {
  const { rows } = await db.query<{ version: number; state: unknown }>('select version, state from edaflow_snapshots where stream_id = $1', [streamId]);
  return rows[0];
}

/** Saves the state as of `version`, unless a snapshot of a later version is already stored. */
export async function saveSnapshot(db: Queryable, streamId: string, version: number, state: unknown): Promise<void> {
  await db.query(
    `insert into edaflow_snapshots (stream_id, version, state) values ($1, $2, $3::jsonb)
     on conflict (stream_id) do update set version = excluded.version, state = excluded.state, saved_at = now()
     where edaflow_snapshots.version <= excluded.version`,
    [streamId, version, JSON.stringify(state ?? null)],
  );
}
