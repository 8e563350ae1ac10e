import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../runtime/brokers/memory.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope } from '../../runtime/envelope/index.js';
import { createEventStore, LOG_START } from '../../runtime/eventstore/index.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import { planMessaging } from '../../runtime/messaging/topology.js';
import { ErrorRateWindow } from '../../runtime/observability/error-rate.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { Metrics } from '../../runtime/observability/metrics.js';
import { startMonitoring } from '../../runtime/observability/monitor.js';
import { advanceCheckpoint } from '../../runtime/projections/checkpoint.js';
import type { Database } from '../../runtime/store/database.js';
import { openTestPostgres } from '../conformance/adapters/postgres.js';
import { ensureServers } from '../servers/servers.mjs';


const YAML = `
brokers: { local: { type: memory } }
defaults: { alerts: { lagAbove: 100 } }
topics: { orders: {} }
events:
  OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object } } } }
handlers:
  ship: { on: OrderPlaced, alerts: { lagAbove: 2 } }
  audit: { on: OrderPlaced }
projections:
  placed:
    table: placed_orders
    key: [id]
    columns: { id: text }
    alerts: { lagAbove: 1 }
    on: { OrderPlaced: { upsert: { id: "{% subject %}" } } }
`;

async function definitions(): Promise<Definitions> {
  const result = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': YAML }, '/d') });
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return result.definitions!;
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: { level: string; msg: string; alert?: string }[] } {
  const lines: { level: string; msg: string; alert?: string }[] = [];
  return { lines, logger: createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }) };
}

/** The evaluator over the definitions above on a memory broker (and `database`), checking only when told. */
async function monitored(database?: Database) {
  const defs = await definitions();
  const plan = planMessaging(defs);
  const broker = new MemoryBroker('local');
  await broker.provision(plan.topologies.get('local')!);
  const metrics = new Metrics();
  const { logger, lines } = capturingLogger();
  const monitor = startMonitoring({ definitions: defs, plan, brokers: new Map([['local', broker]]), metrics, logger, ...(database ? { database } : {}), intervalMs: 60_000 });
  return { defs, broker, metrics, lines, monitor };
}

describe('the alert evaluator', () => {
  it('warns once per consumer-lag episode, clears with an info, and starts a new episode when it lags again', async () => {
    const { defs, broker, metrics, lines, monitor } = await monitored();
    try {
      const publish = (count: number) => broker.publish({ kind: 'topic', name: 'orders' }, Array.from({ length: count }, () => ({ envelope: createEnvelope('OrderPlaced', {}, 'test') })));
      await publish(3);
      await monitor.check();
      await monitor.check();
      const lagWarnings = () => lines.filter((line) => line.alert === 'consumer-lag' && line.level === 'warn').map((line) => line.msg);
      expect(lagWarnings()).toEqual(['handler ship lags 3 messages behind on orders, more than 2']);
      const exposition = await metrics.registry.metrics();
      expect(exposition).toContain('edaflow_alert_active{alert="consumer-lag",subject="handler:ship:orders"} 1');
      // `audit` has the default threshold (100): measured, not alerting.
      expect(exposition).toContain('edaflow_alert_active{alert="consumer-lag",subject="handler:audit:orders"} 0');
      expect(exposition).toContain('edaflow_consumer_lag{kind="handler",consumer="audit",broker="local",destination="orders",group="audit"} 3');

      let consumed = 0;
      const reader = await broker.subscribe({ destination: { kind: 'topic', name: 'orders' }, group: 'ship', deadLetter: null, retry: defs.defaults.retry, concurrency: 1, prefetch: 10 }, async (delivery) => {
        consumed++;
        await delivery.ack();
      });
      while (consumed < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      await reader.stop();
      await monitor.check();
      expect(lines.filter((line) => line.alert === 'consumer-lag' && line.level === 'info').map((line) => line.msg)).toEqual(['handler ship is back at or below 2 messages of lag on orders']);
      expect(await metrics.registry.metrics()).toContain('edaflow_alert_active{alert="consumer-lag",subject="handler:ship:orders"} 0');

      await publish(4);
      await monitor.check();
      expect(lagWarnings()).toHaveLength(2);
      expect(lagWarnings()[1]).toBe('handler ship lags 4 messages behind on orders, more than 2');
    } finally {
      await monitor.stop();
    }
  });

  it('raises the error-rate alert from the deliveries of the window only', async () => {
    let now = 1_000_000;
    const window = new ErrorRateWindow(60_000, () => now);
    expect(window.rate()).toBeUndefined();
    window.record(true);
    window.record(false);
    window.record(false);
    window.record(false);
    expect(window.rate()).toBe(0.25);
    now += 30_000;
    window.record(true);
    expect(window.rate()).toBe(0.4);
    // A minute on, the first four have left the window; the last failure is still in it.
    now += 40_000;
    expect(window.rate()).toBe(1);
    now += 60_000;
    expect(window.rate()).toBeUndefined();
  });
});

describe('the alert evaluator on the database', () => {
  let database: Database;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    ({ database, dispose } = await openTestPostgres());
  }, 60_000);

  afterAll(async () => {
    await dispose?.();
    await database?.close();
  });

  it('measures projection lag in events to apply, alerts on it, and reports the outbox backlog', async () => {
    const { defs, metrics, lines, monitor } = await monitored(database);
    // The outbox is not under test here: appended events go nowhere.
    const store = createEventStore({ database, catalog: MessageCatalog.build(defs, {}), outbox: { write: async () => undefined, parts: async () => [] } });
    try {
      const { positions } = await store.append('order-1', [createEnvelope('OrderPlaced', {}, 'test', { subject: 'order-1' }), createEnvelope('OrderPlaced', {}, 'test', { subject: 'order-1' })], { expectedVersion: 'no-stream' });
      await database.query(`insert into edaflow_outbox (envelope) values ('{}'::jsonb), ('{}'::jsonb), ('{}'::jsonb)`);
      await database.query(`update edaflow_outbox set dead_at = now() where id = (select min(id) from edaflow_outbox)`);
      await monitor.check();
      let exposition = await metrics.registry.metrics();
      expect(exposition).toContain('edaflow_projection_lag{projection="placed"} 2');
      expect(exposition).toContain('edaflow_alert_active{alert="projection-lag",subject="placed"} 1');
      expect(exposition).toContain('edaflow_outbox_backlog{state="pending"} 2');
      expect(exposition).toContain('edaflow_outbox_backlog{state="dead"} 1');
      expect(lines.filter((line) => line.alert === 'projection-lag').map((line) => line.msg)).toEqual(['projection placed has 2 events to apply, more than 1']);

      await advanceCheckpoint(database, 'placed', { ...LOG_START, position: String(positions[0]!) });
      await monitor.check();
      exposition = await metrics.registry.metrics();
      expect(exposition).toContain('edaflow_projection_lag{projection="placed"} 1');
      expect(exposition).toContain('edaflow_alert_active{alert="projection-lag",subject="placed"} 0');
    } finally {
      await monitor.stop();
    }
  });
});
