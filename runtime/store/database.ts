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

/** One open transaction of a Database. */
export interface Transaction extends Queryable {
  /**
   * Sends NOTIFY `channel` once this transaction has committed (never when it rolls back). A NOTIFY sent
   * inside a transaction holds PostgreSQL's one global notify lock through the commit's disk flush, so
   * concurrent committers queue behind it; sent after, it costs a statement and blocks nobody. A crash
   * between commit and notify loses only the wake-up: every listener also polls.
   */
  notifyAfterCommit(channel: string, payload?: string): void;
}

export function isTransaction(target: Queryable): target is Transaction {
  return typeof (target as Partial<Transaction>).notifyAfterCommit === 'function';
}

/** Wakes the listeners of `channel` once `target`'s writes are committed: at commit for a transaction, now otherwise. */
export async function notifyAfterCommit(target: Queryable, channel: string, payload = ''): Promise<void> {
  if (isTransaction(target)) {
    target.notifyAfterCommit(channel, payload);
    return;
  }
  await target.query('select pg_notify($1, $2)', [channel, payload]);
}

/** Collects a transaction's wake-ups (once each), to send after the commit. */
export class PendingNotifications {
  private readonly pending = new Map<string, { channel: string; payload: string }>();

  add(channel: string, payload = ''): void {
    this.pending.set(`${channel}\u0000${payload}`, { channel, payload });
  }

  /** Hands them to `database`'s notifier, which sends them in the background (see `notifySoon`). */
  sendSoon(database: Queryable): void {
    for (const { channel, payload } of this.pending.values()) notifySoon(database, channel, payload);
    this.pending.clear();
  }
}

/**
 * Sends NOTIFY `channel` on `database` in the background: the writer that committed does not wait for
 * it (a NOTIFY costs a round trip and a commit of its own), and wake-ups that pile up while one is
 * being sent go together in the next statement. Best effort: listeners also poll.
 */
export function notifySoon(database: Queryable, channel: string, payload = ''): void {
  let notifier = notifiers.get(database);
  if (!notifier) notifiers.set(database, (notifier = new Notifier(database)));
  notifier.add(channel, payload);
}

const notifiers = new WeakMap<Queryable, Notifier>();
/** How long a wake-up waits for others to go with it. */
const NOTIFY_LINGER_MS = 2;

class Notifier {
  private readonly pending = new Map<string, { channel: string; payload: string }>();
  private sending = false;

  constructor(private readonly database: Queryable) {}

  add(channel: string, payload: string): void {
    this.pending.set(`${channel}\u0000${payload}`, { channel, payload });
    if (this.sending) return;
    this.sending = true;
    // A short linger (as Kafka's linger.ms) lets a writer's next commits share this NOTIFY.
    setTimeout(() => void this.flush(), NOTIFY_LINGER_MS);
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.size) {
        const all = [...this.pending.values()];
        this.pending.clear();
        // NOTIFY gives its transaction an id, so its commit would wait for a disk flush of its own:
        // asynchronous commit (for this statement's transaction only) spares that, and a crash loses
        // at most a wake-up, which polling covers.
        await this.database
          .query("select set_config('synchronous_commit', 'off', true), pg_notify(c, p) from unnest($1::text[], $2::text[]) as n (c, p)", [all.map((n) => n.channel), all.map((n) => n.payload)])
          .catch(() => undefined);
      }
    } finally {
      this.sending = false;
    }
  }
}

/** What the engine needs of a SQL database; PostgreSQL (pg) and the embedded PGlite run the same SQL. */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /**
   * Runs `work` in one transaction on one connection; rolls back when it throws. Never wait on anything
   * but the transaction's own statements inside `work`: the embedded database is one session, and every
   * other query waits until the transaction ends.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
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
