import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadDefinitions, type DatabaseStore, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { createEventStore, type EventStore } from '../../runtime/eventstore/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox } from '../../runtime/outbox/index.js';
import { openDatabase, type Database } from '../../runtime/store/database.js';

export const POSTGRES_URL = process.env['EDAFLOW_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const silent = createLogger({ level: 'silent' });

/** Items, in two versions: version 2 renamed `name` to `title` and added `quantity` (an upcast). */
const ITEM_V1 = `{ type: object, required: [sku, name], properties: { sku: { type: string }, name: { type: string } }, additionalProperties: false }`;
const ITEM_V2 = `{ type: object, required: [sku, title, quantity], properties: { sku: { type: string }, title: { type: string }, quantity: { type: integer } }, additionalProperties: false }`;

function definitionsYaml(withVersion2: boolean, broker: string): string {
  return `
${broker}
defaults: { source: store-test }
topics: { items: {} }
events:
  ItemAdded:
    topic: items
    versions:
      1: { schema: ${ITEM_V1} }
${withVersion2 ? `      2: { schema: ${ITEM_V2}, upcast: { set: { title: "{% name %}", quantity: 1 }, remove: [name] } }` : ''}
  ItemRemoved:
    topic: items
    versions: { 1: { schema: { type: object, required: [sku], properties: { sku: { type: string } } } } }
commands:
  Restock: { schema: { type: object } }
`;
}

export async function loadTestDefinitions(options: { withVersion2?: boolean; broker?: string } = {}): Promise<Definitions> {
  const dir = mkdtempSync(join(tmpdir(), 'edaflow-store-defs-'));
  try {
    writeFileSync(join(dir, 'app.yaml'), definitionsYaml(options.withVersion2 ?? true, options.broker ?? ''));
    const loaded = await loadDefinitions(dir);
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length || !loaded.definitions) throw new Error(`test definitions are invalid: ${JSON.stringify(errors)}`);
    return loaded.definitions as Definitions;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A database of one kind, private to the caller: a fresh schema on PostgreSQL, a fresh directory for PGlite. */
export interface TestDatabase {
  readonly kind: 'postgres' | 'embedded';
  /** The `database` store to open it with (for a child process). */
  readonly store: DatabaseStore;
  open(): Promise<Database>;
  /** Drops what `open` created. */
  destroy(): Promise<void>;
}

export function testDatabase(kind: 'postgres' | 'embedded'): TestDatabase {
  if (kind === 'postgres') {
    const schema = `edaflow_store_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const store: DatabaseStore = { type: 'postgres', url: POSTGRES_URL, schema };
    return {
      kind,
      store,
      open: () => openDatabase(store),
      destroy: async () => {
        const client = new pg.Client(POSTGRES_URL);
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`).finally(() => client.end());
      },
    };
  }
  const path = mkdtempSync(join(tmpdir(), 'edaflow-store-db-'));
  const store: DatabaseStore = { type: 'embedded', path };
  return { kind, store, open: () => openDatabase(store), destroy: async () => rmSync(path, { recursive: true, force: true }) };
}

export interface StoreUnderTest {
  readonly definitions: Definitions;
  readonly catalog: MessageCatalog;
  readonly messaging: Messaging;
  readonly store: EventStore;
  stop(): Promise<void>;
}

/** The event store as the runtime assembles it: brokers of the definitions (the implicit postgres broker on `database`), their outbox. */
export async function startStore(database: Database, definitions: Definitions): Promise<StoreUnderTest> {
  const messaging = await startMessaging({ definitions, logger: silent, database, dedup: new MemoryDedupStore() });
  const catalog = MessageCatalog.build(definitions);
  const outbox = createOutbox({ publisher: messaging.publisher });
  const store = createEventStore({ database, catalog, outbox });
  return { definitions, catalog, messaging, store, stop: () => messaging.stop() };
}

export function itemAdded(sku: string, stream: string, version: 1 | 2 = 2): Envelope {
  const data = version === 2 ? { sku, title: `item ${sku}`, quantity: 2 } : { sku, name: `item ${sku}` };
  return createEnvelope('ItemAdded', data, 'store-test', { subject: stream, dataversion: version });
}

export function itemRemoved(sku: string, stream: string): Envelope {
  return createEnvelope('ItemRemoved', { sku }, 'store-test', { subject: stream, dataversion: 1 });
}

export function uniqueStream(prefix = 'cart'): string {
  return `${prefix}-${randomUUID()}`;
}
