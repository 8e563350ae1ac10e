import type { CodegenPlan, PlannedCode } from './plan.js';
import { docComment, listing, literalUnion, propertyKey } from './text.js';

/**
 * `handlers.ts`: a signature for every function the definitions name, the `Handlers` interface a
 * handlers module implements, and `defineHandlers` to check one. A handler's `emit` and `send`
 * accept only the events and commands it declares (`emits`, `sends`): anything else does not compile.
 */
export function generateHandlers(plan: CodegenPlan): string {
  const events = new Set(plan.events.map((event) => event.name));
  const versionTypes = plan.code.flatMap((item) => (item.kind === 'upcaster' ? [item.from, item.to] : []));
  const messageImports = ['CommandDataMap', 'CommandName', 'EventDataMap', 'EventName', ...new Set(versionTypes)].sort();

  const signatures = plan.code.map((item) => signature(item, events));
  const members = plan.code.map((item) => `  ${propertyKey(item.name)}: ${item.typeName};\n`).join('');

  return `import type { CommandMessage, EventMessage } from './envelope.js';
import type { ${messageImports.join(', ')} } from './messages.js';

/** Options for a message a handler emits or sends. */
export interface EmitOptions {
  /** What the new message is about (its CloudEvents \`subject\`). */
  subject?: string;
  /** The new message's id; give a stable one to make a retried attempt produce the same message. */
  id?: string;
}

/**
 * What a handler gets besides its message. \`Emits\` and \`Sends\` are the events and commands the
 * handler declares; with none declared, \`emit\` or \`send\` cannot be called at all.
 */
export interface HandlerContext<Emits extends EventName = never, Sends extends CommandName = never> {
  /** Emits one of the declared events; correlation and causation follow from the message being handled. */
  emit<T extends Emits>(type: T, data: EventDataMap[T], options?: EmitOptions): Promise<void>;
  /** Sends one of the declared commands. */
  send<T extends Sends>(type: T, data: CommandDataMap[T], options?: EmitOptions): Promise<void>;
  /** 1 on the first delivery, then 2, 3, ... on retries. */
  readonly attempt: number;
  /** Aborted when the attempt times out or the runtime shuts down. */
  readonly signal: AbortSignal;
  /** The message's idempotency key (the handler's \`idempotency.key\`, by default the message id). */
  readonly idempotencyKey: string;
}

/** What a saga activity (\`invoke\`) gets: the saga instance and its context at that point. */
export interface ActivityInput {
  readonly sagaId: string;
  /** The saga's context; a step's activity result is in \`context.<step name>\`. */
  readonly context: Readonly<Record<string, unknown>>;
  /** The event that led to this activity, when there is one. */
  readonly message?: EventMessage;
}

export interface ActivityContext {
  /** Stable across retries of the same step of the same saga instance. */
  readonly idempotencyKey: string;
  /** 1 on the first try, then 2, 3, ... on retries. */
  readonly attempt: number;
  /** Aborted when the step times out or the runtime shuts down. */
  readonly signal: AbortSignal;
}

/** What projection hooks and query functions get: SQL in the projection's transaction. */
export interface ProjectionContext {
  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** An event a decider decides to append: one of \`Name\`, with its data. */
export type DecidedEvent<Name extends EventName> = { [K in Name]: { readonly type: K; readonly data: EventDataMap[K] } }[Name];

${signatures.join('\n\n')}${signatures.length ? '\n\n' : ''}/** Every function the definitions name; a handlers module's default export implements it. */
export interface Handlers {
${members}}

/** Checks a handlers module against the definitions: \`export default defineHandlers({ ... })\`. */
export function defineHandlers(handlers: Handlers): Handlers {
  return handlers;
}
`;
}

function messageUnion(names: readonly string[], events: ReadonlySet<string>): string {
  const eventNames = names.filter((name) => events.has(name));
  const commandNames = names.filter((name) => !events.has(name));
  const parts = [...(eventNames.length ? [`EventMessage<${literalUnion(eventNames)}>`] : []), ...(commandNames.length ? [`CommandMessage<${literalUnion(commandNames)}>`] : [])];
  return parts.length ? parts.join(' | ') : 'never';
}

function signature(item: PlannedCode, events: ReadonlySet<string>): string {
  switch (item.kind) {
    case 'handler':
      return (
        docComment([
          `Handler \`${item.name}\`: handles ${listing(item.on)}; may emit ${item.emits.length ? listing(item.emits) : 'no event'} and send ${item.sends.length ? listing(item.sends) : 'no command'}.`,
          item.description,
        ]) +
        fn(item.typeName, [`message: ${messageUnion(item.on, events)}`, `context: HandlerContext<${literalUnion(item.emits)}, ${literalUnion(item.sends)}>`], 'Promise<void> | void')
      );
    case 'activity':
      return (
        docComment([`Saga activity \`${item.name}\`, invoked by ${listing(item.usedBy)}. Its result lands in the saga's context under the step's name; throwing fails the attempt.`]) +
        fn(item.typeName, ['input: ActivityInput', 'context: ActivityContext'], 'Promise<unknown>')
      );
    case 'upcaster':
      return (
        docComment([`Upcaster \`${item.name}\`: turns version ${item.version - 1} of ${item.event} into version ${item.version}.`]) +
        fn(item.typeName, [`data: ${item.from}`], `${item.to} | Promise<${item.to}>`)
      );
    case 'projectionHook':
      return (
        docComment([`Projection hook \`${item.name}\` of ${listing(item.projections)}: runs after the row change, in the same transaction.`]) +
        fn(item.typeName, [`message: ${messageUnion(item.events, events)}`, 'context: ProjectionContext'], 'Promise<void> | void')
      );
    case 'decider':
      return (
        docComment([
          `Decider \`${item.name}\` of ${listing(item.aggregates)}: decides ${listing(item.commands)} against the aggregate's state.`,
          `Returns the events to append (those the aggregate evolves: ${item.events.length ? listing(item.events) : 'none'}); throwing rejects the command.`,
        ]) +
        fn(item.typeName, [`command: ${messageUnion(item.commands, events)}`, 'state: Readonly<Record<string, unknown>>'], `readonly DecidedEvent<${literalUnion(item.events)}>[] | Promise<readonly DecidedEvent<${literalUnion(item.events)}>[]>`)
      );
    case 'queryHandler':
      return (
        docComment([`Query function \`${item.name}\`, serving ${listing(item.queries)}: takes the request's parameters, returns the result.`]) +
        fn(item.typeName, ['params: Readonly<Record<string, string>>', 'context: ProjectionContext'], 'Promise<unknown>')
      );
  }
}

/** A function type, its parameters one per line. */
function fn(name: string, parameters: readonly string[], returns: string): string {
  return `export type ${name} = (\n${parameters.map((parameter) => `  ${parameter},\n`).join('')}) => ${returns};`;
}
