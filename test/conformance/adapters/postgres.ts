import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerAdapter } from '../../../runtime/brokers/adapter.js';
import { PostgresBroker } from '../../../runtime/brokers/postgres.js';
import { openDatabase, type Database } from '../../../runtime/store/database.js';
import type { AdapterUnderTest, CreateOptions } from '../adapters.js';
import { RUN } from '../harness.js';

export const POSTGRES_URL = process.env['EDAFLOW_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The broker over `database`; closing it also releases what the test opened (`cleanup`). */
function closing(broker: PostgresBroker, database: Database, cleanup: () => Promise<void>): BrokerAdapter {
  const close = broker.close.bind(broker);
  broker.close = async () => {
    await close();
    await cleanup();
    await database.close();
  };
  return broker;
}

/** A fresh embedded database in a temporary directory (PGlite's first creation takes seconds); a shared one by name. */
export async function openTestEmbedded(options: CreateOptions = {}): Promise<{ database: Database; dispose: () => Promise<void> }> {
  const path = options.share ? join(tmpdir(), `edaflow-pglite-share-${options.share}`) : mkdtempSync(join(tmpdir(), 'edaflow-pglite-'));
  mkdirSync(path, { recursive: true });
  const database = await openDatabase({ type: 'embedded', path });
  return { database, dispose: async () => void (options.keep ? undefined : rmSync(path, { recursive: true, force: true })) };
}

/** The PostgreSQL server in a schema of its own (or a shared one by name), dropped afterwards, so runs never collide. */
export async function openTestPostgres(options: CreateOptions = {}): Promise<{ database: Database; schema: string; dispose: () => Promise<void> }> {
  const schema = options.share ? `edaflow_share_${options.share}` : `edaflow_${RUN}_${Math.floor(Math.random() * 1e6)}`;
  const database = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema });
  return { database, schema, dispose: async () => void (options.keep ? undefined : await database.query(`drop schema if exists "${schema}" cascade`)) };
}

export const adapters: readonly AdapterUnderTest[] = [
  {
    name: 'postgres (PGlite)',
    servers: [],
    exclusive: true,
    create: async (options) => {
      const { database, dispose } = await openTestEmbedded(options);
      return closing(new PostgresBroker('postgres', database, { pollIntervalMs: 500 }), database, dispose);
    },
  },
  {
    name: 'postgres (PostgreSQL)',
    servers: ['postgres'],
    create: async (options) => {
      const { database, dispose } = await openTestPostgres(options);
      return closing(new PostgresBroker('postgres', database, { pollIntervalMs: 500 }), database, dispose);
    },
  },
];
