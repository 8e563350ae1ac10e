import { createHash } from 'node:crypto';
import pg from 'pg';
import { PendingNotifications, type Database, type Queryable, type QueryResult } from './database.js';

export interface PostgresOptions {
  /** Schema for edaflow's tables (created when missing); every connection's `search_path`. */
  readonly schema?: string;
  readonly maxConnections?: number;
}

export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Database> {
  // The schema travels as a startup option, so every connection (pooled or listening) has it from the start.
  const startup = options.schema === undefined ? {} : { options: `-c search_path=${pg.escapeIdentifier(options.schema).replace(/[\s\\]/g, '\\$&')}` };
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, ...startup });
  // A server restart breaks idle connections; the pool drops them and opens new ones on demand.
  pool.on('error', () => undefined);
  // Fail fast with the server's own message when it is unreachable or the credentials are wrong.
  await pool.query(options.schema === undefined ? 'select 1' : `create schema if not exists ${pg.escapeIdentifier(options.schema)}`);
  const run = async <Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> => {
    const result = await client.query({ text: sql, values: params as unknown[] | undefined, ...preparedName(sql) });
    return { rows: result.rows as Row[], affectedRows: result.rowCount ?? 0 };
  };
  const listener = new Listener({ connectionString: url, ...startup });
  const database: Database = {
    kind: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    async transaction(work) {
      const client = await pool.connect();
      const notifications = new PendingNotifications();
      const query: Queryable['query'] = (sql, params) => run(client, sql, params);
      try {
        await client.query('begin');
        const result = await work({ query, notifyAfterCommit: (channel, payload) => notifications.add(channel, payload) });
        await client.query('commit');
        notifications.sendSoon(database);
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    listen: (channel, onNotify) => listener.listen(channel, onNotify),
    close: async () => {
      await listener.close();
      await pool.end();
    },
  };
  return database;
}

/**
 * One dedicated connection for LISTEN (a pooled one would be handed to other work). After the server
 * goes away it reconnects with backoff and listens again; notifications sent meanwhile are lost, which
 * is why every listener also polls.
 */
class Listener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly callbacks = new Map<string, Set<(payload: string) => void>>();
  private closed = false;

  constructor(private readonly config: pg.ClientConfig) {}

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const client = await this.connect();
    let set = this.callbacks.get(channel);
    if (!set) {
      set = new Set();
      this.callbacks.set(channel, set);
      await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    }
    set.add(onNotify);
    return async () => {
      set.delete(onNotify);
      if (set.size || this.callbacks.get(channel) !== set) return;
      this.callbacks.delete(channel);
      await this.client?.query(`unlisten ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<pg.Client> {
    const client = new pg.Client(this.config);
    client.on('notification', (message) => {
      for (const callback of this.callbacks.get(message.channel) ?? []) callback(message.payload ?? '');
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    if (this.closed) {
      await client.end();
      throw new Error('the database is closed');
    }
    for (const channel of this.callbacks.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    this.client = client;
    return client;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let delay = 100; !this.closed && !this.client; delay = Math.min(delay * 2, 5_000)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.closed) return;
      await this.connect().catch(() => undefined);
    }
  }
}

/** Statements longer than this run unnamed (parsed and planned each time). */
const PREPARED_MAX_LENGTH = 4_096;
/** Distinct statements prepared per process (each connection keeps the ones it used until it closes). */
const PREPARED_MAX_COUNT = 256;
const preparedNames = new Map<string, string>();

/**
 * A stable name for `sql`, so each pooled connection parses and plans it once and then only binds
 * parameters (an event store append spends about a quarter of its time in planning otherwise). Bounded:
 * PostgreSQL keeps prepared statements for the connection's life, and some statements vary with their
 * row counts, so only the first PREPARED_MAX_COUNT short texts get names.
 */
function preparedName(sql: string): { name?: string } {
  const known = preparedNames.get(sql);
  if (known) return { name: known };
  if (sql.length > PREPARED_MAX_LENGTH || preparedNames.size >= PREPARED_MAX_COUNT) return {};
  const name = `edaflow_${createHash('sha1').update(sql).digest('base64url')}`;
  preparedNames.set(sql, name);
  return { name };
}
