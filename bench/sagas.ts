/**
 * `npm run bench:sagas`: the example's OrderFulfillment saga, run by the whole runtime (`edaflow run`
 * in-process: handlers, aggregates, outbox relay, projections, sagas), on the embedded default (PGlite,
 * the postgres broker) and on NATS JetStream (the example's topics and queue on NATS, the database
 * still embedded). Orders are created through the command bus, BENCH_IN_FLIGHT at a time; a saga counts
 * as done when its instance is `completed`. Reported: sagas completed/s, and p50/p99 step latency (the
 * time an instance spent in each state, from the transition history's commit times).
 *
 * Two ceilings, measured in the same run:
 * - plain XState: the same compiled machine driven through the same events (start, InventoryReserved,
 *   the activity's result, ShipmentCreated) in memory, with no persistence, no broker and no handlers;
 * - raw commits: the database's commit rate for the same number of transitions, each one transaction
 *   updating an instance row's snapshot and appending a history row (what a saga transition must at least
 *   write), on an embedded database of its own.
 *
 * Progress goes to stderr, a table to stdout, and bench/results/sagas.json gets, per case, a `ratio`
 * (edaflow sagas/s ÷ the raw-commit ceiling in sagas/s) and a `ratioToXState`.
 *
 *   BENCH_SAGAS (300 per case)  BENCH_IN_FLIGHT (25)  BENCH_CASES (embedded,nats; a run of one is printed, not written)  NATS_URL
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelope } from '../dist/runtime/envelope/index.js';
import type { Definitions } from '../dist/runtime/definitions/index.js';
import { startRuntime, type Runtime } from '../dist/runtime/host/runtime.js';
import { planMessaging } from '../dist/runtime/messaging/index.js';
import { createLogger } from '../dist/runtime/observability/logger.js';
import { ACTIVITY_DONE, createSagaMachine, start, step, type SagaEvent } from '../dist/runtime/sagas/index.js';
import { openDatabase, type Database } from '../dist/runtime/store/database.js';
import { exampleOnBroker, newRun, removeRunDestinations } from '../test/sagas/runtime/brokers-support.js';
import { EXAMPLE_DIR, exampleDefinitions, newOrder } from '../test/sagas/runtime/support.js';
import { ensureServers } from '../test/servers/servers.mjs';
import { writeResult } from './results.js';
import { formatTable, percentile } from './table.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const SAGAS = env('BENCH_SAGAS', 300);
const IN_FLIGHT = env('BENCH_IN_FLIGHT', 25);
const CASES = (process.env['BENCH_CASES'] ?? 'embedded,nats').split(',').map((name) => name.trim()) as ('embedded' | 'nats')[];
const SAGA = 'OrderFulfillment';
const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' });
const progress = (line: string): void => void process.stderr.write(`${line}\n`);
// The example's notification handler prints every notification with console.info: not in this table.
console.info = () => undefined;

interface Measured {
  readonly sagasPerSecond: number;
  /** Transitions per saga (history rows of a completed instance, its start included). */
  readonly transitions: number;
  readonly stepMs: { readonly p50: number; readonly p99: number };
  /** Database transactions per saga, read-only ones (polls) included; undefined for plain XState. */
  readonly transactionsPerSaga?: number;
}

/** Transactions the database has committed so far (PostgreSQL's statistics, flushed first). */
async function committedTransactions(database: Database): Promise<number> {
  await database.query('select pg_stat_force_next_flush()');
  await database.query('select pg_stat_clear_snapshot()');
  const { rows } = await database.query<{ n: string }>('select xact_commit::text as n from pg_stat_database where datname = current_database()');
  return Number(rows[0]!.n);
}

/** Creates SAGAS orders, IN_FLIGHT at a time, and waits until every saga they start is completed. */
async function runExample(label: string, runtime: Runtime, run: string): Promise<Measured> {
  const orders = Array.from({ length: SAGAS }, (_, i) => `${run}-${i}`);
  let next = 0;
  const completedCount = async (): Promise<number> => {
    const { rows } = await runtime.database.query<{ n: number }>("select count(*)::int as n from edaflow_saga_instances where saga = $1 and status = 'completed'", [SAGA]);
    return rows[0]!.n;
  };
  const committedBefore = await committedTransactions(runtime.database);
  const started = performance.now();
  const create = async (): Promise<void> => {
    while (next < orders.length) {
      const orderId = orders[next++]!;
      await runtime.commandBus.execute(createEnvelope('CreateOrder', newOrder(orderId), 'bench'));
      // Keep IN_FLIGHT sagas running, not IN_FLIGHT orders queued: wait while too many are unfinished.
      while (next - (await completedCount()) > IN_FLIGHT) await sleep(20);
    }
  };
  const creators = Promise.all(Array.from({ length: Math.min(IN_FLIGHT, SAGAS) }, create));
  let done = 0;
  let lastReport = started;
  while (done < SAGAS) {
    await sleep(50);
    done = await completedCount();
    if (performance.now() - lastReport > 2_000) {
      progress(`  ${label}: ${done}/${SAGAS} sagas completed`);
      lastReport = performance.now();
    }
    if (performance.now() - started > 600_000) throw new Error(`${label}: only ${done} of ${SAGAS} sagas completed in 10 minutes`);
  }
  const seconds = (performance.now() - started) / 1000;
  await creators;
  const failed = await runtime.database.query<{ n: number }>("select count(*)::int as n from edaflow_saga_instances where saga = $1 and status <> 'completed'", [SAGA]);
  if (failed.rows[0]!.n) throw new Error(`${label}: ${failed.rows[0]!.n} sagas did not complete`);
  const transactionsPerSaga = ((await committedTransactions(runtime.database)) - committedBefore) / SAGAS;
  return { sagasPerSecond: SAGAS / seconds, transactionsPerSaga, ...(await historyOf(runtime.database)) };
}

/** Transitions per instance and the time spent in each state, from the committed history. */
async function historyOf(database: Database): Promise<Pick<Measured, 'transitions' | 'stepMs'>> {
  const { rows } = await database.query<{ instance_id: string; at: Date }>(
    'select h.instance_id, h.at from edaflow_saga_history h join edaflow_saga_instances i on i.id = h.instance_id where i.saga = $1 order by h.instance_id, h.id',
    [SAGA],
  );
  const steps: number[] = [];
  let transitions = 0;
  for (let i = 0; i < rows.length; i++) {
    transitions++;
    const previous = rows[i - 1];
    if (previous && previous.instance_id === rows[i]!.instance_id) steps.push(rows[i]!.at.getTime() - previous.at.getTime());
  }
  return { transitions: Math.round(transitions / SAGAS), stepMs: { p50: percentile(steps, 50), p99: percentile(steps, 99) } };
}

/** The ceiling without persistence: the compiled machine, its snapshots kept in memory. */
async function plainXState(definitions: Definitions): Promise<Measured> {
  const machine = createSagaMachine(SAGA, definitions.sagas.get(SAGA)!.spec, definitions);
  const drive = async (orderId: string, steps: number[]): Promise<number> => {
    const order = newOrder(orderId);
    const items = order.items.map(({ sku, quantity }) => ({ sku, quantity }));
    const events: SagaEvent[] = [
      createEnvelope('InventoryReserved', { orderId, reservationId: `r-${orderId}`, items }, 'bench'),
      { type: ACTIVITY_DONE, activity: 'chargePayment', step: 'chargePayment', result: { paymentId: `pay-${orderId}` } },
      createEnvelope('ShipmentCreated', { orderId, shipmentId: `s-${orderId}`, trackingId: `t-${orderId}` }, 'bench'),
    ];
    const timed = async <T>(transition: () => Promise<T>): Promise<T> => {
      const before = performance.now();
      const result = await transition();
      steps.push(performance.now() - before);
      return result;
    };
    let current = await timed(() => start(machine, createEnvelope('OrderCreated', order, 'bench', { subject: orderId })));
    let transitions = 1;
    for (const event of events) {
      const snapshot = current.snapshot;
      current = await timed(() => step(machine, snapshot, event));
      if (current.changed) transitions++;
    }
    if (current.status !== 'completed') throw new Error(`plain XState: the saga ended ${current.status} in ${current.state}`);
    return transitions;
  };
  for (let i = 0; i < 200; i++) await drive(`warm-${i}`, []);
  const steps: number[] = [];
  let transitions = 0;
  const started = performance.now();
  for (let i = 0; i < SAGAS; i++) transitions = await drive(`o-${i}`, steps);
  const seconds = (performance.now() - started) / 1000;
  return { sagasPerSecond: SAGAS / seconds, transitions, stepMs: { p50: percentile(steps, 50), p99: percentile(steps, 99) } };
}

/** The database ceiling: `transitions` commits per saga, each an instance update and a history insert. */
async function rawCommits(transitions: number): Promise<{ commitsPerSecond: number; sagasPerSecond: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'edaflow-bench-sagas-raw-'));
  const database = await openDatabase({ type: 'embedded', path: dir });
  try {
    await database.query('create table bench_instances (id text primary key, state text not null, snapshot jsonb not null, version integer not null)');
    await database.query('create table bench_history (id bigserial primary key, instance_id text not null, to_state text not null, at timestamptz not null default now())');
    const snapshot = JSON.stringify({ status: 'active', value: 'ship', context: newOrder('o-raw'), historyValue: {}, children: {} });
    const started = performance.now();
    for (let i = 0; i < SAGAS; i++) {
      const id = `raw-${i}`;
      for (let t = 0; t < transitions; t++) {
        await database.transaction(async (tx) => {
          if (t === 0) await tx.query('insert into bench_instances (id, state, snapshot, version) values ($1, $2, $3, 1)', [id, `s${t}`, snapshot]);
          else await tx.query('update bench_instances set state = $2, snapshot = $3, version = version + 1 where id = $1', [id, `s${t}`, snapshot]);
          await tx.query('insert into bench_history (instance_id, to_state) values ($1, $2)', [id, `s${t}`]);
        });
      }
    }
    const seconds = (performance.now() - started) / 1000;
    return { commitsPerSecond: (SAGAS * transitions) / seconds, sagasPerSecond: SAGAS / seconds };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The whole runtime on `definitions`, on an embedded database of its own. */
async function withRuntime<T>(definitions: Definitions, dataDir: string, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await startRuntime(definitions, { logger, port: 0, handlersModule: join(EXAMPLE_DIR, 'handlers', 'index.ts') });
  try {
    return await work(runtime);
  } finally {
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function exampleCase(kind: 'embedded' | 'nats'): Promise<Measured> {
  const run = newRun();
  // The example's `database` store is `${EDAFLOW_DATA_DIR:-.edaflow/db}`: each case gets a fresh one.
  const dataDir = mkdtempSync(join(tmpdir(), `edaflow-bench-sagas-${kind}-`));
  process.env['EDAFLOW_DATA_DIR'] = dataDir;
  const definitions = kind === 'embedded' ? await exampleDefinitions() : await exampleOnBroker('nats', run);
  try {
    progress(`${kind}: starting the runtime (embedded database in ${dataDir})`);
    return await withRuntime(definitions, dataDir, async (runtime) => {
      progress(`${kind}: ${SAGAS} sagas, ${IN_FLIGHT} in flight`);
      return runExample(kind, runtime, run);
    });
  } finally {
    if (kind === 'nats') await removeRunDestinations('nats', run, planMessaging(definitions).topologies.get('main'));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

if (CASES.includes('nats')) await ensureServers(['nats'], { log: progress });
progress(`plain XState: ${SAGAS} sagas`);
const xstate = await plainXState(await exampleDefinitions());
const examples = new Map<string, Measured>();
for (const kind of CASES) examples.set(kind, await exampleCase(kind));
const transitions = Math.max(...[...examples.values()].map((measured) => measured.transitions));
progress(`raw commits: ${SAGAS} × ${transitions} transactions`);
const commits = await rawCommits(transitions);

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
const cases = Object.fromEntries(
  [...examples].map(([kind, measured]) => [kind, {
    sagasPerSecond: round(measured.sagasPerSecond),
    transitionsPerSaga: measured.transitions,
    transactionsPerSaga: round(measured.transactionsPerSaga ?? NaN),
    stepMs: { p50: round(measured.stepMs.p50), p99: round(measured.stepMs.p99) },
    ratio: round(measured.sagasPerSecond / commits.sagasPerSecond, 3),
    ratioToXState: round(measured.sagasPerSecond / xstate.sagasPerSecond, 4),
  }]),
);
const ceilings = {
  xstate: { sagasPerSecond: round(xstate.sagasPerSecond), stepMs: { p50: round(xstate.stepMs.p50, 3), p99: round(xstate.stepMs.p99, 3) } },
  rawCommits: { sagasPerSecond: round(commits.sagasPerSecond), commitsPerSecond: round(commits.commitsPerSecond), transitionsPerSaga: transitions },
};

const header = ['case', 'sagas/s', 'step p50 ms', 'step p99 ms', 'transactions/saga', '÷ raw commits', '÷ plain XState'];
const rows = [
  ...Object.entries(cases).map(([kind, row]) => [`edaflow, ${kind === 'embedded' ? 'embedded default' : 'NATS (database embedded)'}`, String(row.sagasPerSecond), String(row.stepMs.p50), String(row.stepMs.p99), String(row.transactionsPerSaga), `${row.ratio}×`, `${row.ratioToXState}×`]),
  ['ceiling: plain XState, in memory', String(ceilings.xstate.sagasPerSecond), String(ceilings.xstate.stepMs.p50), String(ceilings.xstate.stepMs.p99), '0', '', '1×'],
  [`ceiling: raw commits (${transitions} per saga, embedded)`, String(ceilings.rawCommits.sagasPerSecond), '', '', String(transitions), '1×', ''],
];
console.log(`${SAGA}, ${SAGAS} sagas per case, ${IN_FLIGHT} in flight; step latency: time an instance spent in a state (history commit times; per step() call for plain XState)`);
console.log('transactions/saga: every transaction the database committed during the run (reads and polls too), per saga: the whole example (order aggregate, handlers, outbox, projections, the DeliveryTracking saga), not only the saga\'s own transitions.');
console.log(formatTable(header, rows));

writeResult('sagas', { saga: SAGA, sagas: SAGAS, inFlight: IN_FLIGHT, cases, ceilings }, CASES.length === 2);
