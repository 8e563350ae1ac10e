import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { KafkaBroker } from '../../runtime/brokers/kafka.js';
import { installRecordCodec } from '../../runtime/brokers/kafka/record-codec.js';
import { createLogger } from '../../runtime/observability/logger.js';

/**
 * An application whose own kafkajs made a request before edaflow created a client: kafkajs's produce
 * module has already taken the stock record codec, so swapping it now would split the process between
 * two codecs. (A file of its own: vitest runs each test file in a fresh process, and the produce module
 * is loaded here before anything else.)
 */
const require = createRequire(import.meta.url);
const stockEncode: unknown = require('kafkajs/src/protocol/recordBatch/record/v0/index.js');
require('kafkajs/src/protocol/requests/produce/v3/request.js');

describe('kafka record codec, after kafkajs made a request', () => {
  it('leaves kafkajs its own codec, and the adapter says why at debug level', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
    new KafkaBroker('kafka', { type: 'kafka', brokers: ['127.0.0.1:9092'] }, logger);
    expect(installRecordCodec()).toEqual({ installed: false, reason: 'kafkajs made requests before edaflow created a client' });
    expect(require('kafkajs/src/protocol/recordBatch/record/v0/index.js')).toBe(stockEncode);
    const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; reason?: string });
    expect(logged).toContainEqual(expect.objectContaining({ level: 'debug', msg: 'kafkajs keeps its own record codec (slower, same bytes)', reason: 'kafkajs made requests before edaflow created a client' }));
  });
});
