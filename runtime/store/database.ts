import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DatabaseStore } from '../definitions/index.js';
import { migrate } from './migrations/index.js';

export interface QueryResult<Row> {
  readonly rows: Row[];
  readonly affectedRows: number;
}

/** A connection that runs SQL: the database itself, or one open transaction of it. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

/** What the engine needs of a SQL database; PostgreSQL (pg) and the embedded PGlite run the same SQL. */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /**
   * Runs `work` in one transaction on one connection; rolls back when it throws. Never wait on anything
   * but the transaction's own statements inside `work`: the embedded database is one session, and every
   * other query waits until the transaction ends.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotify` with the payload of every NOTIFY on `channel` (delivered after the notifying
   * transaction commits). Resolves once listening; the returned function stops it. On PostgreSQL one
   * dedicated connection listens and re-listens after a reconnect.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Where a relative embedded path is resolved (default: the working directory). */
  readonly cwd?: string;
}

/** Opens the `database` store and brings its schema up to date (migrations are idempotent). */
export async function openDatabase(store: DatabaseStore, options: OpenOptions = {}): Promise<Database> {
  let database: Database;
  if (store.type === 'postgres') {
    const { openPostgres } = await import('./postgres.js');
    database = await openPostgres(store.url, store.schema !== undefined ? { schema: store.schema } : {});
  } else {
    const { openEmbedded } = await import('./embedded.js');
    const path = resolve(options.cwd ?? process.cwd(), store.path);
    mkdirSync(path, { recursive: true });
    database = await openEmbedded(path);
  }
  try {
    await migrate(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}
