import type { Entry } from '../merge.js';
import { closestName } from '../suggest.js';
import type { Path } from '../source.js';
import { CheckContext, isObject } from './context.js';

const OPERATIONS = ['upsert', 'update', 'delete'] as const;

export function checkReadModels(ctx: CheckContext): void {
  for (const projection of ctx.sound('projections')) checkProjection(ctx, projection);
  for (const query of ctx.sound('queries')) checkQuery(ctx, query);
}

/** The declared columns, or undefined when there is no `columns` mapping (reported by the structure check). */
function columnsOf(projection: Entry): string[] | undefined {
  return isObject(projection.spec['columns']) ? Object.keys(projection.spec['columns']) : undefined;
}

function expectColumn(ctx: CheckContext, entry: Entry, columns: string[] | undefined, column: string, path: Path, target: 'key' | 'value', table: string): void {
  if (columns === undefined || columns.includes(column)) return;
  const hint = closestName(column, columns);
  ctx.report('EDA_UNKNOWN_COLUMN', `"${column}" is not a column of ${table}${hint ? ` — did you mean "${hint}"?` : ` (columns: ${columns.join(', ')})`}`, entry, path, target);
}

function checkProjection(ctx: CheckContext, projection: Entry): void {
  const columns = columnsOf(projection);
  const table = String(projection.spec['table']);
  const from = projection.spec['from'];
  if (from !== undefined && from !== 'events') ctx.expect(from, ['topics'], 'EDA_UNKNOWN_TOPIC', projection, ['from']);
  const key = projection.spec['key'];
  if (Array.isArray(key)) key.forEach((column, i) => expectColumn(ctx, projection, columns, String(column), ['key', i], 'value', table));
  const reactions = isObject(projection.spec['on']) ? projection.spec['on'] : {};
  for (const [event, reaction] of Object.entries(reactions)) {
    const path: Path = ['on', event];
    ctx.expect(event, ['events'], 'EDA_UNKNOWN_EVENT', projection, path, 'key');
    if (!isObject(reaction)) continue;
    const operations = OPERATIONS.filter((op) => reaction[op] !== undefined);
    if (operations.length !== 1) {
      ctx.report('EDA_PROJECTION_OPERATION', operations.length ? `${event} does ${operations.join(' and ')}: one operation per event` : `${event} needs upsert, update or delete`, projection, path, 'key');
    }
    if (reaction['update'] !== undefined && reaction['where'] === undefined) ctx.report('EDA_PROJECTION_OPERATION', '`update` needs `where` to select the rows', projection, [...path, 'update'], 'key');
    if (reaction['where'] !== undefined && reaction['update'] === undefined) ctx.report('EDA_PROJECTION_OPERATION', '`where` selects the rows of an `update`', projection, [...path, 'where'], 'key');
    for (const op of [...OPERATIONS, 'where']) {
      const values = reaction[op];
      if (isObject(values)) for (const column of Object.keys(values)) expectColumn(ctx, projection, columns, column, [...path, op, column], 'key', table);
    }
  }
}

function checkQuery(ctx: CheckContext, query: Entry): void {
  if (!ctx.expect(query.spec['projection'], ['projections'], 'EDA_UNKNOWN_PROJECTION', query, ['projection'])) return;
  const projection = ctx.merged.sections.projections.get(String(query.spec['projection']))!;
  const columns = columnsOf(projection);
  const table = String(projection.spec['table']);
  const where = query.spec['where'];
  if (isObject(where)) for (const column of Object.keys(where)) expectColumn(ctx, query, columns, column, ['where', column], 'key', table);
  const orderBy = query.spec['orderBy'];
  if (typeof orderBy === 'string') {
    for (const part of orderBy.split(',')) {
      const [column, direction, ...rest] = part.trim().split(/\s+/);
      if (column) expectColumn(ctx, query, columns, column, ['orderBy'], 'value', table);
      if ((direction && !/^(asc|desc)$/i.test(direction)) || rest.length) ctx.report('EDA_INVALID_VALUE', `orderBy "${part.trim()}": write a column, optionally followed by asc or desc`, query, ['orderBy']);
    }
  }
}
