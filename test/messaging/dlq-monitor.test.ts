import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../runtime/brokers/memory.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope } from '../../runtime/envelope/index.js';
import { planMessaging } from '../../runtime/messaging/topology.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { Metrics } from '../../runtime/observability/metrics.js';
import { startMonitoring } from '../../runtime/observability/monitor.js';

describe('dead-letter monitoring', () => {
  it('sets a gauge per dead-letter queue and warns once per episode above alertAbove', async () => {
    const result = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': 'queues: { work: { deadLetter: { queue: work.dlq, alertAbove: 1 } } }\n' }, '/d') });
    const broker = new MemoryBroker('b');
    await broker.provision({ topics: [], queues: [{ name: 'work', deadLetter: 'work.dlq', maxDeliveries: 1 }], groups: [] });
    const warnings: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void warnings.push(JSON.parse(line).msg as string) } });
    const metrics = new Metrics();
    const definitions = result.definitions as Definitions;
    const plan = planMessaging(definitions);
    const monitor = startMonitoring({ definitions, plan, brokers: new Map([[plan.brokerOf({ kind: 'queue', name: 'work' }), broker]]), metrics, logger, intervalMs: 60_000 });
    const deadLetter = async (): Promise<void> => broker.publish({ kind: 'queue', name: 'work.dlq' }, [{ envelope: createEnvelope('X', {}, 's') }]);
    await deadLetter();
    await monitor.check();
    expect(warnings).toEqual([]);
    await deadLetter();
    await deadLetter();
    await monitor.check();
    await monitor.check();
    expect(warnings.filter((w) => w.includes('holds 3 messages, more than 1'))).toHaveLength(1);
    const exposition = await metrics.registry.metrics();
    expect(exposition).toContain('edaflow_dlq_messages{destination="work.dlq"} 3');
    expect(exposition).toContain('edaflow_alert_active{alert="dlq-size",subject="work.dlq"} 1');
    await broker.deadLetters.purge('work.dlq');
    await monitor.check();
    expect(warnings.some((w) => w.includes('back at or below 1'))).toBe(true);
    expect(await metrics.registry.metrics()).toContain('edaflow_alert_active{alert="dlq-size",subject="work.dlq"} 0');
    monitor.stop();
  });
});
