import type { ColumnType } from './model.js';

/** A quoted SQL identifier. Names are validated by the definitions (`^[a-z_][a-z0-9_]*$`); quoting keeps reserved words usable. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A numbered parameter cast to the column's type, so PostgreSQL and PGlite read the value the same way. */
export function placeholder(index: number, type: ColumnType): string {
  return `$${index}::${type}`;
}

/**
 * A template's value as a query parameter for a column of `type`: jsonb travels as JSON text (pg would
 * turn a JS array into a PostgreSQL array), any other object as its JSON, everything else as it is.
 */
export function toParameter(value: unknown, type: ColumnType): unknown {
  if (value === undefined || value === null) return null;
  if (type === 'jsonb') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return value;
}

/**
 * The select-list expression of a column. A `date` column is read as text: drivers turn it into a JS
 * Date at local midnight, which serializes as another day in some time zones.
 */
export function selectColumn(name: string, type: ColumnType): string {
  const quoted = quoteIdentifier(name);
  return type === 'date' ? `${quoted}::text as ${quoted}` : quoted;
}

/**
 * A row as JSON-friendly values, the same on PostgreSQL and PGlite: numeric and bigint columns (read
 * as strings) become numbers when a double holds them exactly, timestamptz columns ISO 8601 strings.
 */
export function normalizeRow(columns: ReadonlyMap<string, ColumnType>, row: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) result[name] = normalizeValue(columns.get(name), value);
  return result;
}

function normalizeValue(type: ColumnType | undefined, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'numeric':
    case 'bigint':
    case 'integer':
    case 'double precision':
      return typeof value === 'string' || typeof value === 'bigint' ? exactNumber(String(value)) ?? String(value) : value;
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : typeof value === 'string' ? new Date(value).toISOString() : value;
    default:
      return value;
  }
}

/**
 * The number a decimal string denotes, when a double holds it exactly enough to print it back: a safe
 * integer, or at most 15 significant digits. Otherwise undefined (the caller keeps the string).
 */
function exactNumber(text: string): number | undefined {
  const match = /^[+-]?(\d*)(?:\.(\d*))?$/.exec(text.trim());
  const value = Number(text);
  if (!match || !Number.isFinite(value)) return undefined;
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (!fraction) return Number.isSafeInteger(value) ? value : undefined;
  const significant = `${match[1] ?? ''}${fraction}`.replace(/^0+/, '');
  return significant.length <= 15 ? value : undefined;
}
