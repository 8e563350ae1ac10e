import { PATTERNS } from './patterns.js';
import { boolean, describe, integer, listOf, namedMap, object, ref, string, stringEnum } from './builders.js';

export const COLUMN_TYPES = ['text', 'integer', 'bigint', 'numeric', 'double precision', 'boolean', 'timestamptz', 'date', 'uuid', 'jsonb'] as const;

const reaction = object('What an event does to the table: exactly one of upsert, update (with where) or delete.', {
  upsert: { ...ref('templateObject'), description: 'Insert the row, or update it when its key exists.' },
  update: { ...ref('templateObject'), description: 'Columns to change in the rows matching `where`; `row` is the row before.' },
  where: { ...ref('templateObject'), description: 'Column equalities selecting the rows to update.' },
  delete: { ...ref('templateObject'), description: 'Column equalities selecting the rows to delete.' },
});

export const projections = namedMap('Read models: tables kept up to date from events.', 'message-name', object('A projection.', {
  from: describe(ref('destinationName'), '`events` (the event store, default) or a topic.'),
  table: describe({ type: 'string', pattern: PATTERNS['sql-name'] }, 'The table name.'),
  key: listOf('Primary-key columns.', { type: 'string' }, 1),
  columns: {
    type: 'object',
    description: 'Columns and their SQL types.',
    propertyNames: { pattern: PATTERNS['sql-name'] },
    additionalProperties: stringEnum('SQL type.', COLUMN_TYPES),
    minProperties: 1,
  },
  on: { type: 'object', description: 'Per event: its effect on the table.', propertyNames: { pattern: PATTERNS['message-name'] }, additionalProperties: reaction, minProperties: 1 },
  handler: describe(ref('codeName'), 'A typed hook run in the same transaction.'),
  alerts: ref('alerts'),
  description: ref('description'),
}, { required: ['table', 'key', 'columns', 'on'] }), 'Projections');

export const queries = namedMap('Named reads of projections, served over HTTP.', 'code-name', object('A query.', {
  projection: describe({ type: 'string', pattern: PATTERNS['message-name'] }, 'The projection to read.'),
  where: { ...ref('templateObject'), description: 'Column equalities; values are templates over `params`.' },
  orderBy: string('Column and direction, e.g. `updated_at desc`.'),
  limit: integer('Most rows returned.', 1),
  single: boolean('Return one row (404 when none) instead of a list.'),
  handler: describe(ref('codeName'), 'A typed query function instead of `where`.'),
  roles: ref('roles'),
  description: ref('description'),
}, { required: ['projection'] }), 'Queries');
