import type { CodegenPlan, PlannedQuery } from './plan.js';
import { docComment, propertyKey, quote } from './text.js';

/**
 * `client.ts`: a typed client over any transport with `publish`, `send` and `query` (HTTP, an
 * in-process runtime, a test double): `publish` takes only declared events with their latest data,
 * `send` only declared commands, and there is one method per named query with its parameters.
 */
export function generateClient(plan: CodegenPlan): string {
  const params = plan.queries.map((query) => `  ${propertyKey(query.name)}: ${paramsType(query)};\n`).join('');
  const methods = plan.queries.map((query) =>
    docComment([
      `Query \`${query.name}\` over projection ${query.projection}${query.single ? ' (one row)' : ''}.`,
      query.description,
    ], '    ') + `    ${propertyKey(query.name)}(params${query.params?.length === 0 ? '?' : ''}: QueryParams[${quote(query.name)}]): Promise<unknown>;\n`,
  ).join('');
  const implementations = plan.queries.map((query) =>
    `      ${propertyKey(query.name)}: (params${query.params?.length === 0 ? ' = {}' : ''}) => transport.query(${quote(query.name)}, params),\n`,
  ).join('');

  return `import type { CommandDataMap, CommandName, EventDataMap, EventName } from './messages.js';

/** Options for publishing an event. */
export interface PublishOptions {
  subject?: string;
  /** A stable id makes a retried publish a duplicate the runtime can drop. */
  id?: string;
  correlationId?: string;
  causationId?: string;
}

/** Options for sending a command. */
export interface SendOptions {
  subject?: string;
  id?: string;
  correlationId?: string;
}

/** What the client needs underneath: untyped publish, send and query. */
export interface EdaflowTransport {
  publish(type: string, data: unknown, options?: PublishOptions): Promise<{ id: string }>;
  send(type: string, data: unknown, options?: SendOptions): Promise<{ id: string }>;
  query(name: string, params: Record<string, unknown>): Promise<unknown>;
}

/** The parameters of each named query: the \`params.x\` its \`where\` uses, as strings. */
export interface QueryParams {
${params}}

export interface EdaflowClient {
  /** Publishes an event with its latest version's data. */
  publish<T extends EventName>(type: T, data: EventDataMap[T], options?: PublishOptions): Promise<{ id: string }>;
  /** Sends a command. */
  send<T extends CommandName>(type: T, data: CommandDataMap[T], options?: SendOptions): Promise<{ id: string }>;
  readonly query: {
${methods}  };
}

/** A typed client over \`transport\`. */
export function createClient(transport: EdaflowTransport): EdaflowClient {
  return {
    publish: (type, data, options) => transport.publish(type, data, options),
    send: (type, data, options) => transport.send(type, data, options),
    query: {
${implementations}    },
  };
}
`;
}

function paramsType(query: PlannedQuery): string {
  if (query.params === undefined) return 'Readonly<Record<string, string>>';
  if (query.params.length === 0) return 'Readonly<Record<string, never>>';
  return `{ ${query.params.map((name) => `readonly ${propertyKey(name)}: string;`).join(' ')} }`;
}
