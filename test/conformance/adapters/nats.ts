import { NatsBroker } from '../../../runtime/brokers/nats.js';
import { createLogger } from '../../../runtime/observability/logger.js';
import type { AdapterUnderTest } from '../adapters.js';

export const adapters: readonly AdapterUnderTest[] = [
  {
    name: 'nats',
    servers: ['nats'],
    create: async () => new NatsBroker('nats', { type: 'nats', servers: [process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'] }, createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' })),
  },
];
