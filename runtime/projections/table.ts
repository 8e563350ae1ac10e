import { EdaflowError } from '../errors/index.js';
import type { Queryable } from '../store/database.js';
import { quoteIdentifier } from './columns.js';
import type { ColumnType, ProjectionModel } from './model.js';

/** How information_schema names each column type. */
const INFORMATION_SCHEMA_TYPE: Readonly<Record<ColumnType, string>> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  'double precision': 'double precision',
  boolean: 'boolean',
  timestamptz: 'timestamp with time zone',
  date: 'date',
  uuid: 'uuid',
  jsonb: 'jsonb',
};

/** A difference between the table in the database and the projection's definition. */
export interface TableDifference {
  readonly column: string;
  readonly problem: string;
}

/**
 * Creates the projection's table when missing and its checkpoint row, in `tx`. An existing table whose
 * columns or primary key differ from the definition is an EDA_PROJECTION_CONFLICT naming the column:
 * the table is never changed silently (a rebuild recreates it).
 */
export async function ensureTable(tx: Queryable, projection: ProjectionModel): Promise<void> {
  await lockProjection(tx, projection.name);
  const differences = await tableDifferences(tx, projection);
  if (differences === undefined) await createTable(tx, projection);
  else if (differences.length) throw conflict(projection, differences);
  await tx.query('insert into edaflow_projection_checkpoints (name, position) values ($1, 0) on conflict (name) do nothing', [projection.name]);
}

/**
 * Empties the table for a rebuild and sets the checkpoint back to 0, in `tx`: truncated when its columns
 * match the definition, dropped and created again when they do not (a rebuild is how columns change).
 */
export async function resetTable(tx: Queryable, projection: ProjectionModel): Promise<void> {
  await lockProjection(tx, projection.name);
  const differences = await tableDifferences(tx, projection);
  if (differences === undefined) await createTable(tx, projection);
  else if (differences.length) {
    await tx.query(`drop table ${quoteIdentifier(projection.table)}`);
    await createTable(tx, projection);
  } else await tx.query(`truncate table ${quoteIdentifier(projection.table)}`);
  await tx.query(
    `insert into edaflow_projection_checkpoints (name, position) values ($1, 0)
     on conflict (name) do update set position = 0, late = '{}'::jsonb, updated_at = now()`,
    [projection.name],
  );
}

/** Processes starting together take turns: concurrent `create table if not exists` can collide. */
async function lockProjection(tx: Queryable, name: string): Promise<void> {
  await tx.query(`select pg_advisory_xact_lock(hashtext($1))`, [`edaflow_projection:${name}`]);
}

async function createTable(tx: Queryable, projection: ProjectionModel): Promise<void> {
  const columns = [...projection.columns].map(([name, type]) => `${quoteIdentifier(name)} ${type}${projection.key.includes(name) ? ' not null' : ''}`);
  const key = projection.key.map(quoteIdentifier).join(', ');
  await tx.query(`create table if not exists ${quoteIdentifier(projection.table)} (${columns.join(', ')}, primary key (${key}))`);
}

/** The differences of the existing table (in the current schema) from the definition; undefined when there is no table. */
async function tableDifferences(tx: Queryable, projection: ProjectionModel): Promise<TableDifference[] | undefined> {
  const { rows } = await tx.query<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns
     where table_schema = current_schema() and table_name = $1 order by ordinal_position`,
    [projection.table],
  );
  if (rows.length === 0) return undefined;
  const existing = new Map(rows.map((row) => [row.column_name, row.data_type]));
  const differences: TableDifference[] = [];
  for (const [name, type] of projection.columns) {
    const actual = existing.get(name);
    if (actual === undefined) differences.push({ column: name, problem: `is missing (the definitions declare it ${type})` });
    else if (actual !== INFORMATION_SCHEMA_TYPE[type]) differences.push({ column: name, problem: `is ${actual}, the definitions declare ${type}` });
  }
  for (const name of existing.keys()) if (!projection.columns.has(name)) differences.push({ column: name, problem: 'exists but the definitions do not declare it' });
  const key = await primaryKey(tx, projection.table);
  if (key.join(',') !== projection.key.join(',')) differences.push({ column: projection.key.join(', '), problem: `should be the primary key, which is (${key.join(', ') || 'none'})` });
  return differences;
}

async function primaryKey(tx: Queryable, table: string): Promise<string[]> {
  const { rows } = await tx.query<{ column_name: string }>(
    `select k.column_name from information_schema.table_constraints c
     join information_schema.key_column_usage k on k.constraint_schema = c.constraint_schema and k.constraint_name = c.constraint_name
     where c.table_schema = current_schema() and c.table_name = $1 and c.constraint_type = 'PRIMARY KEY'
     order by k.ordinal_position`,
    [table],
  );
  return rows.map((row) => row.column_name);
}

function conflict(projection: ProjectionModel, differences: readonly TableDifference[]): EdaflowError {
  const listed = differences.map((difference) => `column ${difference.column} ${difference.problem}`).join('; ');
  return new EdaflowError(
    'EDA_PROJECTION_CONFLICT',
    `projection ${projection.name}: table ${projection.table} differs from the definitions: ${listed}. ` +
      `Rebuild it to recreate the table from the events (\`edaflow projections rebuild <dir> ${projection.name}\`), or change the definitions back`,
    { details: { projection: projection.name, table: projection.table, differences } },
  );
}
