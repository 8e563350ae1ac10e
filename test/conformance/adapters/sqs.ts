import { SqsBroker } from '../../../runtime/brokers/sqs.js';
import { createLogger } from '../../../runtime/observability/logger.js';
import type { AdapterUnderTest } from '../adapters.js';

/**
 * SQS against ElasticMQ. A 1 s long poll keeps graceful stops quick in tests; everything else is the
 * production configuration.
 */
export const adapters: readonly AdapterUnderTest[] = [
  {
    name: 'sqs',
    servers: ['sqs'],
    create: async () =>
      new SqsBroker('sqs', { type: 'sqs', region: 'us-east-1', endpoint: 'http://127.0.0.1:9324' }, { logger: createLogger({ level: 'silent' }) }, { waitTimeSeconds: 1 }),
  },
];
