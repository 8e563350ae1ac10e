import { lateToJson, parseSnapshot, type CommitCursor, type SnapshotInfo } from '../store/commit-cursor.js';
import type { Queryable } from '../store/database.js';
import type { StoredEventRow } from './rows.js';

export interface LogRow extends StoredEventRow {
  readonly transaction_id: string;
}

/**
 * The next committed rows of the whole log for `cursor` (a CommitCursor, see runtime/store/commit-cursor.ts):
 * those after its (transaction id, position) and those of its late transactions after the last one read,
 * in (transaction id, position) order, with the snapshot they were read under.
 *
 * Why this order and not positions alone: a transaction may take its id before another one but its
 * positions after it; once the later one commits, a position-ordered reader would pass the earlier
 * one's positions while it is still running, and skip them forever. The cursor remembers such
 * transactions instead of waiting for them, so one long transaction on the server never stalls a reader.
 */
export async function readAllRows(db: Queryable, cursor: CommitCursor, limit: number, types: readonly string[] | undefined): Promise<{ rows: LogRow[]; snapshot: SnapshotInfo }> {
  const ofTypes = types ? 'and type in (select jsonb_array_elements_text($5::jsonb))' : '';
  const { rows } = await db.query<LogRow & { snapshot: string }>(
    `with snapshot as materialized (select pg_current_snapshot() as s),
     late as (select key::xid8 as transaction_id, value::bigint as position from jsonb_each_text($4::jsonb)),
     candidates as (
       (select * from edaflow_events
        where (transaction_id, position) > ($1::xid8, $2::bigint) ${ofTypes}
        order by transaction_id, position limit $3)
       union all
       (select e.* from late cross join lateral (
          select * from edaflow_events
          where transaction_id = late.transaction_id and position > late.position ${ofTypes}
          order by position limit $3
        ) as e)
     ), batch as (
       select * from candidates order by transaction_id, position limit $3
     )
     select snapshot.s::text as snapshot, batch.transaction_id::text as transaction_id, batch.position::text as position,
       batch.stream_id, batch.version, batch.data_version, batch.data, batch.metadata
     from snapshot left join batch on true
     order by batch.transaction_id, batch.position`,
    [cursor.transactionId, cursor.position, limit, lateToJson(cursor.late), ...(types ? [JSON.stringify(types)] : [])],
  );
  return { rows: rows.filter((row) => row.transaction_id !== null), snapshot: parseSnapshot(rows[0]!.snapshot) };
}
