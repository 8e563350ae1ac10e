import { PGlite } from '@electric-sql/pglite';
import { PendingNotifications, type Database, type QueryResult } from './database.js';
import { lockEmbeddedDirectory } from './embedded-lock.js';

/**
 * PGlite is one PostgreSQL session: statements of concurrent callers would interleave inside each
 * other's transactions. Its own `transaction()` holds an exclusive lock, so everything goes through it
 * or through `query`, which PGlite queues behind a running transaction.
 */
export async function openEmbedded(path: string): Promise<Database> {
  const unlock = lockEmbeddedDirectory(path);
  let db: PGlite;
  try {
    db = await PGlite.create(path);
  } catch (error) {
    unlock();
    throw error;
  }
  const run = async <Row>(target: Pick<PGlite, 'query'>, sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> => {
    const result = await target.query<Row>(sql, params as unknown[] | undefined);
    return { rows: result.rows, affectedRows: result.affectedRows ?? 0 };
  };
  const database: Database = {
    kind: 'embedded',
    query: (sql, params) => run(db, sql, params),
    transaction: async (work) => {
      const notifications = new PendingNotifications();
      const result = await db.transaction((tx) => work({ query: (sql, params) => run(tx, sql, params), notifyAfterCommit: (channel, payload) => notifications.add(channel, payload) }));
      notifications.sendSoon(database);
      return result;
    },
    // In-process: PGlite calls back after the notifying transaction commits, like a server would.
    listen: async (channel, onNotify) => {
      const unlisten = await db.listen(channel, onNotify);
      return async () => {
        if (!db.closed) await unlisten();
      };
    },
    close: async () => {
      try {
        await db.close();
      } finally {
        unlock();
      }
    },
  };
  return database;
}
