/**
 * `npm run bench:store`: appends/s of edaflow's event store on PostgreSQL against, in the same run,
 * raw INSERTs of the same rows (pg, one transaction per append, the version check done by a unique
 * index) and Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql). Cases: single events
 * and batches of 10, with 1 and 8 writers; each writer appends to streams of its own with the expected
 * version it knows (no conflicts), as a command handler would after loading its aggregate. edaflow's
 * append includes its publication (the events' topic is on the `postgres` broker, written in the same
 * transaction), which neither baseline does.
 * Then projection rebuild events/s: edaflow's `rebuildProjection` against a hand-written SQL loop doing
 * the same upserts from the same events, page by page.
 *
 * Each side runs BENCH_RUNS times (alternating which goes first); the median counts. Progress goes to
 * stderr, a table to stdout, and bench/results/store.json gets a `ratio` (edaflow / Emmett) per case.
 *
 *   BENCH_APPENDS (2000 appends per case)  BENCH_RUNS (3)  BENCH_REBUILD_EVENTS (20000)
 *   EDAFLOW_TEST_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres)
 */
import { getPostgreSQLEventStore, type PostgresEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import { createBroker } from '../dist/runtime/brokers/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../dist/runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../dist/runtime/envelope/index.js';
import { createEventStore, type EventStore } from '../dist/runtime/eventstore/index.js';
import { MessageCatalog } from '../dist/runtime/messages/catalog.js';
import { Publisher } from '../dist/runtime/messaging/publisher.js';
import { planMessaging } from '../dist/runtime/messaging/topology.js';
import { createLogger } from '../dist/runtime/observability/logger.js';
import { createOutbox } from '../dist/runtime/outbox/index.js';
import { rebuildProjection } from '../dist/runtime/projections/index.js';
import { openDatabase, type Database } from '../dist/runtime/store/database.js';
import { ensureServers } from '../test/servers/servers.mjs';
import { writeResult } from './results.js';
import { median } from './table.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const APPENDS = env('BENCH_APPENDS', 2_000);
const RUNS = env('BENCH_RUNS', 3);
const REBUILD_EVENTS = env('BENCH_REBUILD_EVENTS', 20_000);
const POSTGRES_URL = process.env['EDAFLOW_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RUN = `bs${Date.now().toString(36)}`;
const STREAMS_PER_WRITER = 10;
const EMMETT_DATABASE = `${RUN}_emmett`;

function emmettUrl(): string {
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${EMMETT_DATABASE}`;
  return url.toString();
}

/** Runs `work` with a database of its own for Emmett (its schema migrated), dropped afterwards. */
async function withEmmettDatabase<T>(work: () => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create database ${pg.escapeIdentifier(EMMETT_DATABASE)}`);
  try {
    const store = getPostgreSQLEventStore(emmettUrl());
    await store.schema.migrate();
    await store.close();
    return await work();
  } finally {
    await admin.query(`drop database ${pg.escapeIdentifier(EMMETT_DATABASE)}`).catch((error: Error) => process.stderr.write(`[bench:store] could not drop ${EMMETT_DATABASE}: ${error.message}\n`));
    await admin.end();
  }
}
const logger = createLogger({ level: 'silent' });

const DEFINITIONS = `
edaflow: 1
topics:
  items: { partitions: 3 }
events:
  ItemAdded:
    topic: items
    versions:
      1:
        schema:
          type: object
          required: [itemId, quantity, label]
          properties: { itemId: { type: string }, quantity: { type: integer }, label: { type: string } }
projections:
  ItemTotals:
    table: item_totals
    key: [stream]
    columns: { stream: text, items: integer, quantity: bigint, updated_at: timestamptz }
    on:
      ItemAdded:
        upsert: { stream: "{% subject %}", items: 1, quantity: "{% data.quantity %}", updated_at: "{% time %}" }
`;

interface Case {
  readonly name: string;
  readonly writers: number;
  readonly batch: number;
}

const CASES: Case[] = [
  { name: 'single events, 1 writer', writers: 1, batch: 1 },
  { name: 'batches of 10, 1 writer', writers: 1, batch: 10 },
  { name: 'single events, 8 writers', writers: 8, batch: 1 },
  { name: 'batches of 10, 8 writers', writers: 8, batch: 10 },
];

/** One side of a case: appends `count` batches of `batch` events to a stream, at a known version. */
type Appender = (streamId: string, expectedVersion: number, events: readonly Envelope[]) => Promise<void>;

interface Side {
  readonly name: 'edaflow' | 'raw' | 'emmett';
  open(run: string): Promise<{ append: Appender; close(): Promise<void> }>;
}

function item(n: number, stream: string): Envelope {
  return createEnvelope('ItemAdded', { itemId: `i-${n}`, quantity: (n % 7) + 1, label: `item number ${n}` }, 'bench', { subject: stream, dataversion: 1 });
}

async function benchDefinitions(): Promise<Definitions> {
  const result = await loadDefinitions('/bench', { fileSystem: memoryFileSystem({ 'app.yaml': DEFINITIONS }, '/bench') });
  if (!result.definitions) throw new Error(`bench definitions are invalid: ${JSON.stringify(result.diagnostics)}`);
  return result.definitions as Definitions;
}

/** edaflow's store on a schema of its own, with the postgres broker on the same database for publication. */
async function openEdaflow(definitions: Definitions, schema: string): Promise<{ database: Database; store: EventStore; catalog: MessageCatalog; close(): Promise<void> }> {
  const database = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema });
  const catalog = MessageCatalog.build(definitions);
  const plan = planMessaging(definitions);
  const broker = await createBroker('default', { type: 'postgres' }, { logger, database });
  await broker.connect();
  await broker.provision(plan.topologies.get('default')!);
  const publisher = new Publisher(definitions, catalog, plan, new Map([['default', broker]]));
  const store = createEventStore({ database, catalog, outbox: createOutbox({ publisher }) });
  return {
    database,
    store,
    catalog,
    close: async () => {
      await broker.close();
      await database.close();
    },
  };
}

function sides(definitions: Definitions): Side[] {
  return [
    {
      name: 'edaflow',
      open: async (run) => {
        const edaflow = await openEdaflow(definitions, run);
        return {
          append: async (streamId, expectedVersion, events) => void (await edaflow.store.append(streamId, events, { expectedVersion, streamType: 'Item' })),
          close: edaflow.close,
        };
      },
    },
    {
      name: 'raw',
      open: async (run) => {
        const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 10 });
        const table = pg.escapeIdentifier(`${run}_raw`);
        await pool.query(`create table ${table} (position bigserial primary key, stream_id text not null, version int not null, event_id text not null unique,
          type text not null, data jsonb not null, metadata jsonb not null, created_at timestamptz not null default now(), unique (stream_id, version))`);
        return {
          append: async (streamId, expectedVersion, events) => {
            const params = events.flatMap((event, index) => [streamId, expectedVersion + index + 1, event.id, event.type, JSON.stringify(event.data), JSON.stringify({ time: event.time, subject: event.subject })]);
            const values = events.map((_, index) => `($${index * 6 + 1}, $${index * 6 + 2}, $${index * 6 + 3}, $${index * 6 + 4}, $${index * 6 + 5}::jsonb, $${index * 6 + 6}::jsonb)`).join(', ');
            await pool.query(`insert into ${table} (stream_id, version, event_id, type, data, metadata) values ${values}`, params);
          },
          close: async () => {
            await pool.query(`drop table ${table}`);
            await pool.end();
          },
        };
      },
    },
    {
      name: 'emmett',
      // One database for the whole run (created in main): each measurement writes streams of its own.
      open: async (run) => {
        const store: PostgresEventStore = getPostgreSQLEventStore(emmettUrl());
        return {
          append: async (streamId, expectedVersion, events) =>
            void (await store.appendToStream(`${run}-${streamId}`, events.map((event) => ({ type: event.type, data: event.data as Record<string, unknown> })), { expectedStreamVersion: BigInt(expectedVersion) })),
          close: () => store.close(),
        };
      },
    },
  ];
}

/** Appends APPENDS batches split across the writers, each cycling over streams of its own; returns appends/s. */
async function measure(side: Side, benchCase: Case, run: string): Promise<number> {
  const opened = await side.open(run);
  try {
    const perWriter = Math.ceil(APPENDS / benchCase.writers);
    let counter = 0;
    const writer = async (w: number): Promise<void> => {
      const versions = new Array<number>(STREAMS_PER_WRITER).fill(0);
      for (let i = 0; i < perWriter; i++) {
        const s = i % STREAMS_PER_WRITER;
        const stream = `item-${w}-${s}`;
        const events = Array.from({ length: benchCase.batch }, () => item(counter++, stream));
        await opened.append(stream, versions[s]!, events);
        versions[s]! += benchCase.batch;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: benchCase.writers }, (_, w) => writer(w)));
    const seconds = (performance.now() - started) / 1000;
    return (perWriter * benchCase.writers) / seconds;
  } finally {
    await opened.close();
  }
}


interface Row {
  readonly case: string;
  readonly unit: string;
  readonly edaflow: number;
  readonly emmett?: number;
  readonly raw: number;
  readonly ratio: number;
  readonly ratioToRaw: number;
}

async function appendCases(definitions: Definitions): Promise<Row[]> {
  const rows: Row[] = [];
  const all = sides(definitions);
  for (const [index, benchCase] of CASES.entries()) {
    const results: Record<string, number[]> = { edaflow: [], raw: [], emmett: [] };
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      const order = runIndex % 2 === 0 ? all : [...all].reverse();
      for (const side of order) {
        const rate = await measure(side, benchCase, `${RUN}_${index}_${runIndex}_${side.name}`);
        results[side.name]!.push(rate);
        process.stderr.write(`[bench:store] ${benchCase.name}: ${side.name} run ${runIndex + 1}/${RUNS}: ${Math.round(rate)} appends/s\n`);
      }
    }
    const edaflow = median(results['edaflow']!);
    const emmett = median(results['emmett']!);
    const raw = median(results['raw']!);
    rows.push({ case: `append: ${benchCase.name}`, unit: 'appends/s', edaflow, emmett, raw, ratio: edaflow / emmett, ratioToRaw: edaflow / raw });
  }
  return rows;
}

/** edaflow's rebuild of a projection over REBUILD_EVENTS events against a SQL loop doing the same upserts. */
async function rebuildCase(definitions: Definitions): Promise<Row> {
  const schema = `${RUN}_rebuild`;
  const edaflow = await openEdaflow(definitions, schema);
  try {
    process.stderr.write(`[bench:store] rebuild: appending ${REBUILD_EVENTS} events\n`);
    const streams = 500;
    const versions = new Array<number>(streams).fill(0);
    for (let n = 0; n < REBUILD_EVENTS; n += 50) {
      const s = (n / 50) % streams;
      const stream = `item-${s}`;
      await edaflow.store.append(stream, Array.from({ length: 50 }, (_, i) => item(n + i, stream)), { expectedVersion: versions[s]! });
      versions[s]! += 50;
    }
    const edaflowRates: number[] = [];
    const rawRates: number[] = [];
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      const startedEdaflow = performance.now();
      const { events } = await rebuildProjection({
        definitions,
        database: edaflow.database,
        store: edaflow.store,
        catalog: edaflow.catalog,
        functions: {},
        logger,
        name: 'ItemTotals',
      });
      edaflowRates.push(events / ((performance.now() - startedEdaflow) / 1000));
      const startedRaw = performance.now();
      const rawEvents = await rawRebuild(edaflow.database);
      rawRates.push(rawEvents / ((performance.now() - startedRaw) / 1000));
      process.stderr.write(`[bench:store] rebuild run ${runIndex + 1}/${RUNS}: edaflow ${Math.round(edaflowRates.at(-1)!)} events/s, raw ${Math.round(rawRates.at(-1)!)} events/s\n`);
    }
    const value = median(edaflowRates);
    const raw = median(rawRates);
    return { case: `projection rebuild (${REBUILD_EVENTS} events)`, unit: 'events/s', edaflow: value, raw, ratio: value / raw, ratioToRaw: value / raw };
  } finally {
    const database = edaflow.database;
    await database.query(`drop schema ${pg.escapeIdentifier(schema)} cascade`).catch(() => undefined);
    await edaflow.close();
  }
}

/** The same projection by hand: pages of 500 events, one transaction per page, one upsert per event. */
async function rawRebuild(database: Database): Promise<number> {
  await database.query('create table if not exists raw_item_totals (stream text primary key, items integer, quantity bigint, updated_at timestamptz)');
  await database.query('truncate raw_item_totals');
  let after = 0;
  let count = 0;
  for (;;) {
    const { rows } = await database.query<{ position: string; stream_id: string; data: { quantity: number }; metadata: { time: string } }>(
      'select position, stream_id, data, metadata from edaflow_events where position > $1 order by position limit 500',
      [after],
    );
    if (!rows.length) return count;
    await database.transaction(async (tx) => {
      for (const row of rows) {
        await tx.query(
          `insert into raw_item_totals (stream, items, quantity, updated_at) values ($1, 1, $2, $3)
           on conflict (stream) do update set items = excluded.items, quantity = excluded.quantity, updated_at = excluded.updated_at`,
          [row.stream_id, row.data.quantity, row.metadata.time],
        );
      }
    });
    count += rows.length;
    after = Number(rows.at(-1)!.position);
  }
}

function printTable(rows: readonly Row[]): void {
  const format = (value: number | undefined): string => (value === undefined ? '—' : Math.round(value).toLocaleString('en-US'));
  const lines = [
    ['case', 'edaflow', 'Emmett', 'raw SQL', 'edaflow/Emmett', 'edaflow/raw'],
    ...rows.map((row) => [row.case, `${format(row.edaflow)} ${row.unit}`, format(row.emmett), format(row.raw), row.emmett === undefined ? '—' : `${row.ratio.toFixed(2)}×`, `${row.ratioToRaw.toFixed(2)}×`]),
  ];
  const widths = lines[0]!.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  for (const [index, line] of lines.entries()) {
    console.log(line.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
    if (index === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  }
}

async function main(): Promise<void> {
  await ensureServers(['postgres']);
  const definitions = await benchDefinitions();
  const rows = [...(await withEmmettDatabase(() => appendCases(definitions))), await rebuildCase(definitions)];
  printTable(rows);
  writeResult('store', { appendsPerCase: APPENDS, runs: RUNS, target: 'edaflow >= Emmett in every append case (ratio >= 1)', cases: rows });
}

await main();
