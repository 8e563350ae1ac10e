import { notifyAfterCommit, type Queryable } from './database.js';

/**
 * One multi-row INSERT ... SELECT, kept as parts so that it can run alone or inside another statement
 * (a data-modifying WITH, guarded by the rows of the statement's main insert). Composing the writes of
 * one operation into one statement makes it atomic without BEGIN/COMMIT: one round trip instead of
 * four (an event store append and its publication).
 */
export interface InsertPart {
  /** `table (columns)`. */
  readonly into: string;
  /** `select ... from (values ...) as v (...)` over parameters $offset+1..; no WHERE clause. */
  select(offset: number): string;
  readonly params: readonly unknown[];
  /** The NOTIFY that tells listeners of the new rows, sent once they are committed. */
  readonly wake: { readonly channel: string; readonly payload: string };
}

/** Runs `part` alone in `tx` (a transaction, or the database: one statement is atomic by itself). */
export async function runInsertPart(tx: Queryable, part: InsertPart): Promise<void> {
  await tx.query(`insert into ${part.into} ${part.select(0)}`, part.params);
  await notifyAfterCommit(tx, part.wake.channel, part.wake.payload);
}

/**
 * `main` (an INSERT without RETURNING, over parameters $1..$main.params.length) with every part as a
 * data-modifying WITH that writes only if `main` wrote; the statement returns `returning` of main's rows.
 */
export function composeInserts(main: { sql: string; params: readonly unknown[]; returning: string }, parts: readonly InsertPart[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [...main.params];
  const writes = parts.map((part, index) => {
    const sql = `w${index} as (insert into ${part.into} ${part.select(params.length)} where exists (select 1 from main))`;
    params.push(...part.params);
    return sql;
  });
  return { sql: `with main as (${main.sql} returning ${main.returning})${writes.map((write) => `, ${write}`).join('')} select * from main`, params };
}
