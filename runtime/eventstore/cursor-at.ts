import { EdaflowError } from '../errors/index.js';
import { START, type CommitCursor } from '../store/commit-cursor.js';
import type { Queryable } from '../store/database.js';

/**
 * The log cursor after the event at `position` (0: the start), with `late` transactions still to be
 * read, for a reader that saved only the position (a projection's checkpoint): its transaction id
 * is looked up. An unknown position would read nothing, forever: it is an error instead.
 */
export async function cursorAt(db: Queryable, position: number, late: ReadonlyMap<string, string>): Promise<CommitCursor> {
  if (position === 0) return { ...START, late };
  const { rows } = await db.query<{ transaction_id: string }>('select transaction_id::text from edaflow_events where position = $1::bigint', [position]);
  if (!rows.length) throw new EdaflowError('EDA_UNKNOWN_POSITION', `no event at position ${position} in the event store: resume from 0 or from a position readAll returned`, { details: { position } });
  return { transactionId: rows[0]!.transaction_id, position: String(position), late };
}
