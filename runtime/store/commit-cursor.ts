/**
 * Where a reader of an append-only table stands — a consumer group in a postgres-broker topic
 * partition, a projection in the event store's log — and how it moves.
 *
 * Rows are read in (transaction id, position) order. A transaction that took its id earlier but
 * commits later would put rows behind a cursor that has already passed them. Reading only below the
 * oldest running transaction (`pg_snapshot_xmin`) avoids that, but then one long transaction anywhere
 * on the server — another schema, another database — holds every topic reader back for as long as it
 * runs. Instead the cursor reads every committed row and remembers the transactions that were still
 * running below it when it passed them (`late`); their rows are read when they commit, and they are
 * forgotten once they have ended and nothing of theirs is left. Transactions that take an id later
 * get a higher one, so nothing else can land behind the cursor.
 */
export interface CommitCursor {
  /** The last row read in order. */
  readonly transactionId: string;
  readonly position: string;
  /** Running-when-passed transactions: id → position of the last row of theirs read ('0': none yet). */
  readonly late: ReadonlyMap<string, string>;
}

/** What the reading statement's snapshot said: transactions at or above `xmax` had not started; `running` had not committed. */
export interface SnapshotInfo {
  readonly xmax: bigint;
  /** Ascending. */
  readonly running: readonly bigint[];
}

export const START: CommitCursor = { transactionId: '0', position: '0', late: new Map() };

/** Parses `pg_current_snapshot()::text`: `xmin:xmax:xip1,xip2,...`. */
export function parseSnapshot(text: string): SnapshotInfo {
  const [, xmax, running] = text.split(':');
  if (xmax === undefined || running === undefined) throw new Error(`not a snapshot: ${text}`);
  return { xmax: BigInt(xmax), running: running ? running.split(',').map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : [] };
}

/** The cursor after reading `row` under `snapshot`. */
export function advance(cursor: CommitCursor, row: { readonly transactionId: string; readonly position: string }, snapshot: SnapshotInfo): CommitCursor {
  if (cursor.late.has(row.transactionId)) return { ...cursor, late: new Map(cursor.late).set(row.transactionId, row.position) };
  const passed = BigInt(row.transactionId);
  let late = cursor.late;
  for (const id of snapshot.running) {
    if (id >= passed) break;
    const key = id.toString();
    if (late.has(key)) continue;
    if (late === cursor.late) late = new Map(late);
    (late as Map<string, string>).set(key, '0');
  }
  return { transactionId: row.transactionId, position: row.position, late };
}

/**
 * After a read that returned all it could (fewer rows than asked): a late transaction that has ended
 * has had every row it committed read, so it is forgotten.
 */
export function forgetEnded(cursor: CommitCursor, snapshot: SnapshotInfo): CommitCursor {
  // The common case, on every idle poll: nothing is late.
  if (!cursor.late.size) return cursor;
  const running = new Set(snapshot.running.map(String));
  const late = new Map([...cursor.late].filter(([id]) => running.has(id) || BigInt(id) >= snapshot.xmax));
  return late.size === cursor.late.size ? cursor : { ...cursor, late };
}

/**
 * One read's rows, from `from` in order: the cursor after each, and where the next read starts (past
 * them, with ended late transactions forgotten when the read was `complete`, i.e. returned fewer rows
 * than asked).
 */
export function walk(from: CommitCursor, rows: readonly { readonly transactionId: string; readonly position: string }[], snapshot: SnapshotInfo, complete: boolean): { afters: CommitCursor[]; next: CommitCursor } {
  let cursor = from;
  const afters = rows.map((row) => (cursor = advance(cursor, row, snapshot)));
  return { afters, next: complete ? forgetEnded(cursor, snapshot) : cursor };
}

/** The `late` column's form: `{ "<transaction id>": "<position>" }`. */
export function lateToJson(late: ReadonlyMap<string, string>): string {
  return JSON.stringify(Object.fromEntries(late));
}

export function lateFromJson(value: unknown): Map<string, string> {
  const object = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  if (!object || typeof object !== 'object') return new Map();
  return new Map(Object.entries(object as Record<string, unknown>).map(([id, position]) => [id, String(position)]));
}
