import { describe, expect, it } from 'vitest';
import { loadDefinitions, memoryFileSystem } from '../../runtime/definitions/index.js';
import { planMessaging } from '../../runtime/messaging/topology.js';
import { allConsumers, alertThresholds } from '../../runtime/observability/measure.js';

describe('consumer kinds and alert thresholds', () => {
  it('labels every planned consumer with what it feeds', async () => {
    const loaded = await loadDefinitions('definitions');
    const plan = planMessaging(loaded.definitions!);
    const kinds = new Map(allConsumers(plan).map((consumer) => [`${consumer.kind}:${consumer.name}`, consumer.kind]));
    // The example has no command queue an aggregate reads: that kind is checked below.
    expect(new Set(kinds.values())).toEqual(new Set(['handler', 'projection', 'saga', 'stream']));
    for (const consumer of plan.consumers) expect(consumer.kind).toBe('handler');
    for (const consumer of plan.sagaConsumers) expect(consumer.kind).toBe('saga');
    for (const consumer of plan.streamConsumers) expect(consumer.kind).toBe('stream');
    for (const consumer of plan.projectionConsumers) expect(consumer.kind).toBe('projection');
    for (const consumer of plan.aggregateConsumers) expect(consumer.kind).toBe('aggregate');
  });

  it('labels an aggregate reading its command queue as an aggregate', async () => {
    const yaml = `
brokers: { local: { type: memory } }
topics: { orders: {} }
queues: { commands: {} }
events: { OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object } } } } }
commands: { PlaceOrder: { queue: commands, schema: { type: object, required: [orderId], properties: { orderId: { type: string } } } } }
aggregates:
  Order: { streamId: command.orderId, initial: {}, handle: { PlaceOrder: { emit: OrderPlaced } }, alerts: { lagAbove: 7 } }
`;
    const loaded = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': yaml }, '/d') });
    const plan = planMessaging(loaded.definitions!);
    expect(plan.aggregateConsumers.map((consumer) => [consumer.kind, consumer.name, consumer.destination.name])).toEqual([['aggregate', 'Order', 'commands']]);
    expect(alertThresholds(loaded.definitions!, 'aggregate', 'Order').lagAbove).toBe(7);
  });

  it('takes each unset threshold from defaults.alerts', async () => {
    const yaml = `
brokers: { local: { type: memory } }
defaults: { alerts: { lagAbove: 100, errorRateAbove: 0.1, checkEvery: 5s } }
topics: { orders: {} }
events: { OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object } } } } }
handlers:
  ship: { on: OrderPlaced, alerts: { lagAbove: 2, deadLettersAbove: 0 } }
  audit: { on: OrderPlaced }
`;
    const loaded = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': yaml }, '/d') });
    const definitions = loaded.definitions!;
    expect(definitions.defaults.alertCheckEveryMs).toBe(5_000);
    expect(alertThresholds(definitions, 'handler', 'ship')).toEqual({ lagAbove: 2, errorRateAbove: 0.1, deadLettersAbove: 0 });
    expect(alertThresholds(definitions, 'handler', 'audit')).toEqual({ lagAbove: 100, errorRateAbove: 0.1 });
  });

  it('refuses an error rate above 1 with the key\'s path', async () => {
    const yaml = `
brokers: { local: { type: memory } }
topics: { orders: {} }
events: { OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object } } } } }
handlers: { ship: { on: OrderPlaced, alerts: { errorRateAbove: 5 } } }
`;
    const loaded = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': yaml }, '/d') });
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(errors)).toContain('errorRateAbove');
  });
});
