import { describe } from 'vitest';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';
import { KAFKA_BROKERS } from '../conformance/adapters/kafka.js';
import { ensureServers } from '../servers/servers.mjs';
import { goldenCasesThroughTheRunner } from './durable.js';
import { GOLDEN_DEFINITIONS } from './golden.js';

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

/** The golden definitions on a Kafka broker, with topics of this run's own. */
async function kafkaDefinitions(): Promise<Definitions> {
  let yaml = GOLDEN_DEFINITIONS.replace('edaflow: 1\n', `edaflow: 1\nbrokers: { kafka: { type: kafka, brokers: ${JSON.stringify(KAFKA_BROKERS)}, clientId: streams-golden-${RUN} } }\ndefaults: { broker: kafka }\n`);
  for (const topic of ['orders', 'payments', 'results']) yaml = yaml.replace(`  ${topic}: {`, `  ${topic}-${RUN}: {`).replace(`topic: ${topic}\n`, `topic: ${topic}-${RUN}\n`);
  const result = await loadDefinitions('/golden', { fileSystem: memoryFileSystem({ 'streams.yaml': yaml }, '/golden') });
  if (!result.definitions) throw new Error(JSON.stringify(result.diagnostics, null, 2));
  return result.definitions;
}

/**
 * The golden fixtures through the durable runner with Kafka carrying the inputs and outputs (state in
 * the embedded database; outputs through the outbox relay, with their deterministic ids).
 */
describe('golden fixtures through the durable runner on Kafka', () => {
  goldenCasesThroughTheRunner({ definitions: kafkaDefinitions, resultsTopic: `results-${RUN}`, servers: () => ensureServers(['kafka']), timeoutMs: 180_000 });
});
