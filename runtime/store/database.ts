import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DatabaseStore } from '../definitions/index.js';

export interface QueryResult<Row> {
  readonly rows: Row[];
  readonly affectedRows: number;
}

/** What the engine needs of a SQL database; PostgreSQL (pg) and the embedded PGlite run the same SQL. */
export interface Database {
  readonly kind: 'postgres' | 'embedded';
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
  /** Runs `work` in one transaction on one connection; rolls back when it throws. */
  transaction<T>(work: (tx: Pick<Database, 'query'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Where a relative embedded path is resolved (default: the working directory). */
  readonly cwd?: string;
}

export async function openDatabase(store: DatabaseStore, options: OpenOptions = {}): Promise<Database> {
  if (store.type === 'postgres') {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(store.url);
  }
  const { openEmbedded } = await import('./embedded.js');
  const path = resolve(options.cwd ?? process.cwd(), store.path);
  mkdirSync(path, { recursive: true });
  return openEmbedded(path);
}
