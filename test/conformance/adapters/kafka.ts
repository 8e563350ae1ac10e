import { KafkaBroker, type KafkaAdapterOptions } from '../../../runtime/brokers/kafka.js';
import { createLogger } from '../../../runtime/observability/logger.js';
import type { AdapterUnderTest } from '../adapters.js';

/**
 * Short group timings so joins, rebalances and stops take milliseconds on the local single broker
 * (Kafka's defaults, right for production, make a rebalance take seconds).
 */
export const KAFKA_TEST_OPTIONS: KafkaAdapterOptions = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 200, rebalanceTimeoutMs: 10_000, maxWaitTimeMs: 100 };

export const KAFKA_BROKERS = [process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092'];

export const adapters: readonly AdapterUnderTest[] = [
  {
    name: 'kafka',
    servers: ['kafka'],
    create: async () => new KafkaBroker('kafka', { type: 'kafka', brokers: KAFKA_BROKERS, clientId: 'edaflow-conformance' }, createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'error' }), KAFKA_TEST_OPTIONS),
  },
];
