import { evaluateTemplate } from './expressions.js';

export interface DeclarativeUpcast {
  readonly set?: Readonly<Record<string, unknown>>;
  readonly remove?: readonly string[];
}

/**
 * One declarative upcast step: `set` is evaluated against the old data, `remove` drops properties, then
 * the set values are written. Returns new data; the input (stored bytes) is never changed.
 */
export async function applyDeclarativeUpcast(data: unknown, upcast: DeclarativeUpcast): Promise<unknown> {
  const previous = data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  const assigned = upcast.set ? ((await evaluateTemplate(upcast.set, previous)) as Record<string, unknown>) : {};
  const next: Record<string, unknown> = { ...previous };
  for (const key of upcast.remove ?? []) delete next[key];
  return { ...next, ...assigned };
}
