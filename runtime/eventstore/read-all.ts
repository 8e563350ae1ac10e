import { EdaflowError } from '../errors/index.js';
import type { Queryable } from '../store/database.js';
import { EVENT_COLUMNS, type StoredEventRow } from './rows.js';

/**
 * The next rows of the whole log after the event at position `after` (0: from the start), in
 * (transaction id, position) order, and only of transactions older than the oldest one still running.
 *
 * Why this order and not positions alone: a transaction may take its id before another one but its
 * positions after it; once the later one commits, a position-ordered reader would pass the earlier
 * one's positions while it is still running, and skip them forever. Every transaction below
 * `pg_snapshot_xmin` has ended, and every transaction that can still commit has an id at or above
 * it, so nothing can ever appear behind a (transaction id, position) already returned (Emmett's rule).
 * The resume point stays one number: the position of the last row returned, whose transaction id is
 * looked up in the same statement.
 */
export async function readAllRows(db: Queryable, after: number, limit: number, types: readonly string[] | undefined): Promise<StoredEventRow[]> {
  const { rows } = await db.query<StoredEventRow>(
    `select ${EVENT_COLUMNS} from edaflow_events
     where (transaction_id, position) > (
         case when $1::bigint = 0 then '0'::xid8 else (select transaction_id from edaflow_events where position = $1::bigint) end,
         $1::bigint)
       and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ${types ? `and type in (select jsonb_array_elements_text($3::jsonb))` : ''}
     order by edaflow_events.transaction_id, edaflow_events.position -- qualified: the select list has a text \`position\`
     limit $2`,
    types ? [after, limit, JSON.stringify(types)] : [after, limit],
  );
  if (!rows.length && after > 0) await assertPositionExists(db, after);
  return rows;
}

/** An unknown resume point compares as null above, so it would silently read nothing, forever: say so instead. */
async function assertPositionExists(db: Queryable, position: number): Promise<void> {
  const { rows } = await db.query('select 1 from edaflow_events where position = $1::bigint', [position]);
  if (!rows.length) throw new EdaflowError('EDA_UNKNOWN_POSITION', `no event at position ${position} in the event store: resume from 0 or from a position readAll returned`, { details: { position } });
}
