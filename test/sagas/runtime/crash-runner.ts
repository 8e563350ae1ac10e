/**
 * The process the saga crash test kills: runs the `Crash` saga (crash-definitions.ts) on PostgreSQL
 * with the postgres broker. Its activities record each call (and this process's pid) in `crash_invocations` and their side
 * effect, once per idempotency key, in `crash_effects`. Prints `ready` once the sagas run.
 *
 *   node --import tsx test/sagas/runtime/crash-runner.ts <postgres url> <schema> [activity concurrency]
 */
import { loadDefinitions, memoryFileSystem } from '../../../runtime/definitions/index.js';
import type { HandlerFunctions } from '../../../runtime/host/handlers-module.js';
import { MemoryDedupStore } from '../../../runtime/idempotency/dedup.js';
import { startMessaging } from '../../../runtime/messaging/index.js';
import { createLogger } from '../../../runtime/observability/logger.js';
import { createOutbox } from '../../../runtime/outbox/index.js';
import { startSagas } from '../../../runtime/sagas/index.js';
import { openDatabase } from '../../../runtime/store/database.js';
import { CRASH_YAML } from './crash-definitions.js';

const [url, schema, concurrency = '32'] = process.argv.slice(2);
if (!url || !schema) throw new Error('usage: crash-runner <postgres url> <schema> [activity concurrency]');

const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'error', destination: { write: (line: string) => void process.stderr.write(line) } });
const loaded = await loadDefinitions('/crash', { fileSystem: memoryFileSystem({ 'app.yaml': CRASH_YAML }, '/crash') });
const definitions = loaded.definitions!;
const database = await openDatabase({ type: 'postgres', url, schema });
const messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });

type Input = { readonly context: Readonly<Record<string, unknown>> };
type Context = { readonly idempotencyKey: string; readonly signal: AbortSignal };
const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    });
  });

async function effect(kind: 'do' | 'undo', key: string): Promise<void> {
  await database.query('insert into crash_invocations (key, pid) values ($1, $2)', [key, process.pid]);
  await pause(Math.random() * 50);
  await database.query('insert into crash_effects (key, kind) values ($1, $2) on conflict do nothing', [key, kind]);
  // A kill here leaves the effect done but its completion unrecorded: the retry must not repeat it.
  await pause(Math.random() * 50);
}

const functions = {
  sideEffect: async (_input: Input, context: Context) => {
    await effect('do', context.idempotencyKey);
    return { done: context.idempotencyKey };
  },
  undoEffect: async (_input: Input, context: Context) => {
    await effect('undo', context.idempotencyKey);
    return { undone: context.idempotencyKey };
  },
  maybeFail: async (input: Input, context: Context) => {
    await database.query('insert into crash_invocations (key, pid) values ($1, $2)', [context.idempotencyKey, process.pid]);
    if (input.context['mode'] === 'fail') throw new Error('declined');
    if (input.context['mode'] === 'slow') await pause(5_000, context.signal);
    await database.query('insert into crash_effects (key, kind) values ($1, $2) on conflict do nothing', [context.idempotencyKey, 'do']);
    return { ok: true };
  },
} as unknown as HandlerFunctions;

await startSagas({
  definitions,
  database,
  catalog: messaging.catalog,
  brokers: messaging.brokers,
  plan: messaging.plan,
  outbox: createOutbox({ publisher: messaging.publisher }),
  functions,
  logger,
  pollIntervalMs: 200,
  // Short: the invocations a killed process had claimed are taken over soon.
  activityLeaseMs: 1_000,
  activityConcurrency: Number(concurrency),
});
process.stdout.write('ready\n');
