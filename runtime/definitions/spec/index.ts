import { object, type JsonSchema } from './builders.js';
import { commonDefinitions } from './common.js';
import { brokers, defaults, messageSecurity, queues, stores, topics } from './infrastructure.js';
import { commands, events } from './messages.js';
import { aggregates, handlers, sagas } from './behaviour.js';
import { projections, queries } from './read-models.js';
import { streams } from './streams.js';

export { BROKER_TYPES } from './infrastructure.js';
export { COLUMN_TYPES } from './read-models.js';
export { PATTERNS, type PatternName } from './patterns.js';
export type { JsonSchema } from './builders.js';

export const SECTIONS = {
  brokers, stores, defaults, topics, queues, events, commands, aggregates, handlers, sagas, projections, queries, streams,
} as const;

export type SectionName = keyof typeof SECTIONS;
export const SECTION_NAMES = Object.keys(SECTIONS) as SectionName[];
/** Sections that map names to definitions (all but stores and defaults). */
export const NAMED_SECTIONS = SECTION_NAMES.filter((name) => name !== 'stores' && name !== 'defaults');

const ITEM_TITLES: Record<string, string> = {
  brokers: 'BrokerDefinition', topics: 'TopicDefinition', queues: 'QueueDefinition', events: 'EventDefinition',
  commands: 'CommandDefinition', aggregates: 'AggregateDefinition', handlers: 'HandlerDefinition', sagas: 'SagaDefinition',
  projections: 'ProjectionDefinition', queries: 'QueryDefinition', streams: 'StreamDefinition',
};

function titled(name: string, section: JsonSchema): JsonSchema {
  const item = section['additionalProperties'];
  const title = ITEM_TITLES[name];
  return title && item && typeof item === 'object' ? { ...section, additionalProperties: { ...item, title } } : section;
}

export const SCHEMA_ID = 'https://edaflow.dev/schemas/edaflow.schema.json';

/** The JSON Schema of one definitions file (draft 2020-12). */
export function definitionsFileSchema(): JsonSchema {
  const file = object('An edaflow definitions file. A directory holds any number of them, merged.', {
    edaflow: { const: 1, description: 'The language version. Only 1 exists.' },
    ...Object.fromEntries(Object.entries(SECTIONS).map(([name, section]) => [name, titled(name, section)])),
  }, { title: 'edaflow definitions' });
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: SCHEMA_ID, ...file, $defs: { ...commonDefinitions, messageSecurity } };
}
