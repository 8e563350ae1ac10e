import { evaluateTemplate } from '../core/expressions.js';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { Queryable } from '../store/database.js';
import { normalizeRow, placeholder, quoteIdentifier, toParameter } from './columns.js';
import type { ColumnTemplate, ProjectionModel, Reaction } from './model.js';

/** What projection hooks and query functions get (the generated `ProjectionContext`): SQL in the open transaction. */
export interface ProjectionContext {
  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export type ProjectionHook = (message: Envelope, context: ProjectionContext) => Promise<void> | void;

/** Applies events, in order, to the projection's table inside the caller's transaction. */
export type EventApplier = (tx: Queryable, envelopes: readonly Envelope[]) => Promise<void>;

/** Rows per multi-row upsert: well below PostgreSQL's 65535 parameters for any table. */
const MAX_BATCH_ROWS = 500;

/**
 * The function that applies events to `projection` inside a caller's transaction: each event's
 * `upsert`, `update` or `delete` as parameterized SQL (templates evaluated over the envelope), then the
 * typed hook, if any, on the same transaction. An event the projection does not react to changes
 * nothing. Without a hook, consecutive upserts of distinct keys go as one multi-row statement (the
 * result is the same; a rebuild or a catch-up is many times faster).
 */
export function createApplier(projection: ProjectionModel, functions: HandlerFunctions): EventApplier {
  const hook = projection.hook === undefined ? undefined : hookFunction(projection, functions);
  return async (tx, envelopes) => {
    const batch = new UpsertBatch(projection);
    for (const envelope of envelopes) {
      const reaction = projection.reactions.get(envelope.type);
      if (!reaction) continue;
      if (reaction.kind === 'upsert' && !hook) {
        const row = upsertRow(projection, envelope, await evaluateColumns(reaction.values, envelope));
        if (!batch.accepts(row)) await batch.flush(tx);
        batch.add(row);
        continue;
      }
      await batch.flush(tx);
      await applyReaction(tx, projection, reaction, envelope);
      if (hook) await hook(envelope, projectionContext(tx));
    }
    await batch.flush(tx);
  };
}

export function projectionContext(queryable: Queryable): ProjectionContext {
  return { query: async (sql, params) => ({ rows: (await queryable.query(sql, params)).rows }) };
}

function hookFunction(projection: ProjectionModel, functions: HandlerFunctions): ProjectionHook {
  const hook = functions[projection.hook!];
  if (typeof hook !== 'function') throw new EdaflowError('EDA_HANDLERS_MODULE', `projection ${projection.name}: the handlers module does not export its hook ${projection.hook}`);
  return hook as unknown as ProjectionHook;
}

async function applyReaction(tx: Queryable, projection: ProjectionModel, reaction: Reaction, envelope: Envelope): Promise<void> {
  switch (reaction.kind) {
    case 'upsert':
      return upsertRows(tx, projection, [upsertRow(projection, envelope, await evaluateColumns(reaction.values, envelope))]);
    case 'update':
      return reaction.readsRow ? updateEachRow(tx, projection, reaction, envelope) : update(tx, projection, await evaluateColumns(reaction.set, envelope), await evaluateColumns(reaction.where, envelope, null));
    case 'delete':
      return remove(tx, projection, await evaluateColumns(reaction.where, envelope, null));
  }
}

/**
 * Each column's template evaluated over `scope`. A column whose expression yields nothing is left out,
 * or, with `missing` given (for `where`), kept as that value: a condition must never disappear and
 * widen an update or delete to every row.
 */
async function evaluateColumns(template: ColumnTemplate, scope: unknown, missing?: null): Promise<Map<string, unknown>> {
  const values = new Map<string, unknown>();
  for (const [column, value] of Object.entries(template)) {
    const evaluated = await evaluateTemplate(value, scope);
    if (evaluated !== undefined) values.set(column, evaluated);
    else if (missing !== undefined) values.set(column, missing);
  }
  return values;
}

/** Collects parameters and renders `$n::type` placeholders for them. */
class Parameters {
  readonly values: unknown[] = [];
  constructor(private readonly projection: ProjectionModel) {}

  add(column: string, value: unknown): string {
    const type = this.projection.columns.get(column)!;
    this.values.push(toParameter(value, type));
    return placeholder(this.values.length, type);
  }

  /** `a = $1 and b = $2`; a null condition matches nothing, as SQL's `=` does, and so does an empty `where`. */
  conditions(where: ReadonlyMap<string, unknown>): string {
    return [...where].map(([column, value]) => `${quoteIdentifier(column)} = ${this.add(column, value)}`).join(' and ') || 'false';
  }
}

/** One row an upsert writes: the columns its templates gave values, and its key. */
interface UpsertRow {
  readonly values: ReadonlyMap<string, unknown>;
  /** The key's values as one string, to tell rows of one key apart. */
  readonly key: string;
  /** The columns, in order, as one string: rows of one multi-row statement must name the same ones. */
  readonly shape: string;
}

function upsertRow(projection: ProjectionModel, envelope: Envelope, values: ReadonlyMap<string, unknown>): UpsertRow {
  const missingKey = projection.key.filter((column) => values.get(column) === undefined || values.get(column) === null);
  if (missingKey.length) {
    throw new EdaflowError('EDA_PAYLOAD_INVALID', `projection ${projection.name}: ${envelope.type} ${envelope.id} gives no value for key column ${missingKey.join(', ')}`, {
      details: { projection: projection.name, event: envelope.id, columns: missingKey },
    });
  }
  return { values, key: JSON.stringify(projection.key.map((column) => values.get(column))), shape: [...values.keys()].join(',') };
}

/**
 * Consecutive upserts waiting to be written as one statement. A row joins only when it names the same
 * columns and a key not in the batch yet: one statement cannot upsert a row twice, and a later upsert
 * of the same key must see the earlier one's result.
 */
class UpsertBatch {
  private rows: UpsertRow[] = [];
  private readonly keys = new Set<string>();

  constructor(private readonly projection: ProjectionModel) {}

  accepts(row: UpsertRow): boolean {
    return this.rows.length === 0 || (this.rows.length < MAX_BATCH_ROWS && row.shape === this.rows[0]!.shape && !this.keys.has(row.key));
  }

  add(row: UpsertRow): void {
    this.rows.push(row);
    this.keys.add(row.key);
  }

  async flush(tx: Queryable): Promise<void> {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    this.keys.clear();
    await upsertRows(tx, this.projection, rows);
  }
}

/** `insert ... values (...), (...) on conflict (key) do update` of rows that all name the same columns and distinct keys. */
async function upsertRows(tx: Queryable, projection: ProjectionModel, rows: readonly UpsertRow[]): Promise<void> {
  const parameters = new Parameters(projection);
  const columns = [...rows[0]!.values.keys()];
  const tuples = rows.map((row) => `(${columns.map((column) => parameters.add(column, row.values.get(column))).join(', ')})`);
  const changed = columns.filter((column) => !projection.key.includes(column));
  const onConflict = changed.length ? `do update set ${changed.map((column) => `${quoteIdentifier(column)} = excluded.${quoteIdentifier(column)}`).join(', ')}` : 'do nothing';
  await tx.query(
    `insert into ${quoteIdentifier(projection.table)} (${columns.map(quoteIdentifier).join(', ')}) values ${tuples.join(', ')}
     on conflict (${projection.key.map(quoteIdentifier).join(', ')}) ${onConflict}`,
    parameters.values,
  );
}

async function update(tx: Queryable, projection: ProjectionModel, set: ReadonlyMap<string, unknown>, where: ReadonlyMap<string, unknown>): Promise<void> {
  if (set.size === 0) return;
  const parameters = new Parameters(projection);
  const assignments = [...set].map(([column, value]) => `${quoteIdentifier(column)} = ${parameters.add(column, value)}`);
  await tx.query(`update ${quoteIdentifier(projection.table)} set ${assignments.join(', ')} where ${parameters.conditions(where)}`, parameters.values);
}

/** An update whose values use `row`: each matching row (locked) is evaluated with itself in scope, then updated by its key. */
async function updateEachRow(tx: Queryable, projection: ProjectionModel, reaction: Extract<Reaction, { kind: 'update' }>, envelope: Envelope): Promise<void> {
  const parameters = new Parameters(projection);
  const condition = parameters.conditions(await evaluateColumns(reaction.where, envelope, null));
  const { rows } = await tx.query(`select * from ${quoteIdentifier(projection.table)} where ${condition} for update`, parameters.values);
  for (const row of rows) {
    const set = await evaluateColumns(reaction.set, { ...envelope, row: normalizeRow(projection.columns, row) });
    await update(tx, projection, set, new Map(projection.key.map((column) => [column, row[column]])));
  }
}

async function remove(tx: Queryable, projection: ProjectionModel, where: ReadonlyMap<string, unknown>): Promise<void> {
  const parameters = new Parameters(projection);
  await tx.query(`delete from ${quoteIdentifier(projection.table)} where ${parameters.conditions(where)}`, parameters.values);
}
