import { evaluateTemplate, templateExpression } from '../core/expressions.js';
import type { Defined, Definitions, Document } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import { normalizeRow, projectionContext, projectionModel, quoteIdentifier, selectColumn, type ProjectionContext, type ProjectionModel } from '../projections/index.js';
import type { Queryable } from '../store/database.js';

export interface QueryService {
  /**
   * Runs the named query with the request's parameters: a list of rows, or with `single: true` one row
   * (EDA_NOT_FOUND, 404, when there is none). A parameter its `where` needs and the request lacks, or a
   * value the column's type cannot take, is EDA_QUERY_INVALID (400); an unknown query, EDA_NOT_FOUND.
   */
  run(name: string, params: Readonly<Record<string, string>>): Promise<unknown>;
}

export interface QueryServiceOptions {
  readonly definitions: Definitions;
  readonly database: Queryable;
  readonly functions: HandlerFunctions;
}

type QueryFunction = (params: Readonly<Record<string, string>>, context: ProjectionContext) => Promise<unknown>;

/** A query ready to run: its projection, its `orderBy` as SQL, or its typed function. */
interface PreparedQuery {
  readonly name: string;
  readonly spec: Document.QueryDefinition;
  readonly projection: ProjectionModel;
  readonly orderBy: string | undefined;
  readonly handler?: QueryFunction;
}

/** The definitions' named queries over projection tables, and the typed query functions of the handlers module. */
export function createQueryService(options: QueryServiceOptions): QueryService {
  const queries = new Map([...options.definitions.queries.values()].map((query) => [query.name, prepare(options, query)]));
  return {
    async run(name, params) {
      const query = queries.get(name);
      if (!query) throw new EdaflowError('EDA_NOT_FOUND', `no query named ${name}`, { details: { query: name } });
      if (query.handler) return query.handler(params, projectionContext(options.database));
      return runDeclared(options.database, query, params);
    },
  };
}

function prepare(options: QueryServiceOptions, query: Defined<Document.QueryDefinition>): PreparedQuery {
  const projection = projectionModel(options.definitions, query.spec.projection);
  const orderBy = query.spec.orderBy === undefined ? undefined : orderByClause(query.name, projection, query.spec.orderBy);
  const handlerName = query.spec.handler;
  if (handlerName === undefined) return { name: query.name, spec: query.spec, projection, orderBy };
  const handler = options.functions[handlerName];
  if (typeof handler !== 'function') throw new EdaflowError('EDA_HANDLERS_MODULE', `query ${query.name}: the handlers module does not export its function ${handlerName}`);
  return { name: query.name, spec: query.spec, projection, orderBy, handler: handler as unknown as QueryFunction };
}

/** `created_at desc, id` → `"created_at" desc, "id" asc`, every column checked against the projection's. */
function orderByClause(query: string, projection: ProjectionModel, orderBy: string): string {
  return orderBy
    .split(',')
    .map((part) => {
      const [column = '', direction = 'asc', ...rest] = part.trim().split(/\s+/);
      if (!projection.columns.has(column) || !/^(asc|desc)$/i.test(direction) || rest.length) {
        throw new EdaflowError('EDA_QUERY_INVALID', `query ${query}: orderBy "${part.trim()}" must be a column of ${projection.table} optionally followed by asc or desc`);
      }
      return `${quoteIdentifier(column)} ${direction.toLowerCase()}`;
    })
    .join(', ');
}

async function runDeclared(database: Queryable, query: PreparedQuery, params: Readonly<Record<string, string>>): Promise<unknown> {
  const { projection, spec } = query;
  const values: unknown[] = [];
  const conditions: string[] = [];
  for (const [column, template] of Object.entries(spec.where ?? {})) {
    const value = await evaluateTemplate(template, { params });
    if (value === undefined) throw missingParameter(query, column, template, params);
    const type = projection.columns.get(column)!;
    if (value === null) conditions.push(`${quoteIdentifier(column)} is null`);
    else {
      values.push(typeof value === 'object' ? JSON.stringify(value) : value);
      conditions.push(`${quoteIdentifier(column)} = $${values.length}::${type}`);
    }
  }
  const limit = spec.single ? 1 : spec.limit;
  const sql = [
    `select ${[...projection.columns].map(([name, type]) => selectColumn(name, type)).join(', ')} from ${quoteIdentifier(projection.table)}`,
    conditions.length ? `where ${conditions.join(' and ')}` : '',
    query.orderBy ? `order by ${query.orderBy}` : '',
    limit !== undefined ? `limit ${Number(limit)}` : '',
  ].filter(Boolean).join(' ');
  const rows = (await select(database, query, sql, values)).map((row) => normalizeRow(projection.columns, row));
  if (!spec.single) return rows;
  if (rows.length === 0) throw new EdaflowError('EDA_NOT_FOUND', `${query.name}: no ${projection.name} matches ${describeParams(params)}`, { details: { query: query.name } });
  return rows[0];
}

/** Runs the select; a parameter the column's type cannot take (an invalid uuid, a number that is text) is the caller's mistake: 400. */
async function select(database: Queryable, query: PreparedQuery, sql: string, values: readonly unknown[]): Promise<Record<string, unknown>[]> {
  try {
    return (await database.query(sql, values)).rows;
  } catch (error) {
    const sqlState = (error as { code?: unknown }).code;
    if (typeof sqlState === 'string' && sqlState.startsWith('22')) {
      throw new EdaflowError('EDA_QUERY_INVALID', `${query.name}: ${(error as Error).message}`, { cause: error, details: { query: query.name } });
    }
    throw error;
  }
}

/** EDA_QUERY_INVALID naming the parameters the `where` value refers to and the request lacks. */
function missingParameter(query: PreparedQuery, column: string, template: unknown, params: Readonly<Record<string, string>>): EdaflowError {
  const expression = templateExpression(template) ?? '';
  const referenced = [...expression.matchAll(/\bparams\.([A-Za-z_$][\w$]*)/g)].map((match) => match[1]!);
  const missing = [...new Set(referenced.filter((name) => params[name] === undefined))];
  const message = missing.length
    ? `${query.name} needs the parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`
    : `${query.name}: the condition on ${column} has no value for these parameters (${expression})`;
  return new EdaflowError('EDA_QUERY_INVALID', message, { details: { query: query.name, missing, column } });
}

function describeParams(params: Readonly<Record<string, string>>): string {
  const entries = Object.entries(params);
  return entries.length ? entries.map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(', ') : 'the request';
}
