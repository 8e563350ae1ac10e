import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { statusCommand, type StatusReport } from '../../runtime/cli/status.js';
import type { Runtime } from '../../runtime/host/runtime.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { ensureServers } from '../servers/servers.mjs';
import { waitFor } from '../helpers/process.js';
import { POSTGRES_URL, startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * An aggregate appends OrderPlaced (the event store), the outbox puts it on `orders`, where a handler,
 * a topic-fed projection and a store-fed projection take it. The handler fails orders marked `fail`
 * (one attempt: dead-lettered at once) and alerts above a 25% error rate and any dead letter.
 */
const DEFINITIONS = (schema: string): string => `
brokers: { local: { type: memory } }
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
defaults: { source: test, retry: { attempts: 1 }, alerts: { checkEvery: 100ms } }
topics: { orders: {} }
events:
  OrderPlaced:
    topic: orders
    versions: { 1: { schema: { type: object, required: [orderId], properties: { orderId: { type: string }, fail: { type: boolean } } } } }
commands:
  PlaceOrder: { schema: { type: object, required: [orderId], properties: { orderId: { type: string }, fail: { type: boolean } } } }
aggregates:
  Order:
    streamId: command.orderId
    initial: { placed: false }
    evolve: { OrderPlaced: { placed: true } }
    handle: { PlaceOrder: { emit: OrderPlaced } }
handlers:
  ship: { on: OrderPlaced, alerts: { errorRateAbove: 0.25, deadLettersAbove: 0 } }
projections:
  placed:
    table: placed_orders
    key: [id]
    columns: { id: text }
    on: { OrderPlaced: { upsert: { id: "{% data.orderId %}" } } }
  seen:
    from: orders
    table: seen_orders
    key: [id]
    columns: { id: text }
    on: { OrderPlaced: { upsert: { id: "{% data.orderId %}" } } }
`;

const HANDLERS = `
export default {
  async ship(message) { if (message.data.fail) throw new Error('cannot ship ' + message.data.orderId); },
};
`;

let app: TestApp;
let runtime: Runtime;
const logged: { level: string; msg: string; alert?: string }[] = [];

beforeAll(async () => {
  await ensureServers(['postgres']);
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(JSON.parse(line)) } });
  app = await startTestApp({ name: 'metrics', definitions: DEFINITIONS, handlers: HANDLERS, logger });
  runtime = app.runtime;
}, 60_000);

afterAll(async () => {
  await app?.stop();
});

async function place(data: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${runtime.url}/commands/PlaceOrder`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data }) });
  expect(response.status, await response.text()).toBeLessThan(300);
}

const metrics = async (): Promise<string> => (await fetch(`${runtime.url}/metrics`)).text();

describe('metrics and alerts of a running runtime', () => {
  it('times deliveries per consumer kind, tracks error rates, DLQ sizes, lag, the outbox and appends, and alerts once', async () => {
    await place({ orderId: 'a' });
    await place({ orderId: 'b', fail: true });
    const expected = [
      'edaflow_message_processing_seconds_count{kind="handler",consumer="ship",outcome="handled"} 1',
      'edaflow_message_processing_seconds_count{kind="handler",consumer="ship",outcome="dead-lettered"} 1',
      'edaflow_message_processing_seconds_count{kind="projection",consumer="seen",outcome="handled"} 2',
      'edaflow_messages_total{consumer="ship",outcome="handled"} 1',
      'edaflow_consumer_error_rate{kind="handler",consumer="ship"} 0.5',
      'edaflow_consumer_error_rate{kind="projection",consumer="seen"} 0',
      'edaflow_dlq_messages{destination="orders.ship.dlq"} 1',
      'edaflow_consumer_lag{kind="handler",consumer="ship",broker="local",destination="orders",group="ship"} 0',
      'edaflow_consumer_lag{kind="projection",consumer="seen",broker="local",destination="orders",group="seen"} 0',
      'edaflow_projection_lag{projection="placed"} 0',
      'edaflow_outbox_backlog{state="pending"} 0',
      'edaflow_eventstore_append_seconds_count 2',
      'edaflow_eventstore_append_events_sum 2',
      'edaflow_alert_active{alert="error-rate",subject="handler:ship"} 1',
      'edaflow_alert_active{alert="dlq-size",subject="orders.ship.dlq"} 1',
    ];
    let text = '';
    await waitFor(async () => {
      text = await metrics();
      return expected.every((line) => text.includes(line));
    }, 20_000).catch(() => undefined);
    for (const line of expected) expect(text).toContain(line);
    // Checks keep running every 100 ms; the episode is still one warning per alert.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const warnings = logged.filter((line) => line.level === 'warn' && line.alert !== undefined);
    expect(warnings.map((line) => line.msg).sort()).toEqual([
      'dead-letter queue orders.ship.dlq holds 1 messages, more than 0',
      'handler ship failed 50% of its deliveries in the last 5 minutes, more than 25%',
    ]);
  }, 60_000);

  it('edaflow status --url shows the running runtime`s own report: its error rates and its (memory) broker`s dead letters, flagged', async () => {
    let stdout = '';
    const capture = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
    let code: number;
    try {
      code = await statusCommand('definitions', { url: runtime.url, format: 'json' });
    } finally {
      capture.mockRestore();
    }
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as StatusReport;
    expect(report.consumers.find((row) => row.kind === 'handler' && row.name === 'ship')).toMatchObject({ errorRate: 0.5, deadLetters: 1, flags: ['DLQ', 'FAILING'] });
    expect(report.consumers.find((row) => row.kind === 'projection' && row.name === 'seen')).toMatchObject({ errorRate: 0, flags: [] });
    expect(report.projections).toEqual([{ name: 'placed', lag: 0, flags: [] }]);
  }, 60_000);
});
