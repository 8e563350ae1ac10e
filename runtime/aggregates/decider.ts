import { createHash } from 'node:crypto';
import { compileExpression, evaluateExpression, evaluateTemplate } from '../core/expressions.js';
import { asList, type Defined, type Document } from '../definitions/index.js';
import { causedBy, createEnvelope, deterministicId, type Envelope } from '../envelope/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { MessageCatalog } from '../messages/catalog.js';

/** An aggregate's state: the `initial` object with each evolved event's template merged in. */
export type AggregateState = Readonly<Record<string, unknown>>;

/** An event a typed decider returns: its type and its (latest-version) data. */
export interface DecidedEvent {
  readonly type: string;
  readonly data: unknown;
}

/** A typed decider from the handlers module; throwing rejects the command. */
export type DeciderFunction = (command: Envelope, state: AggregateState) => readonly DecidedEvent[] | Promise<readonly DecidedEvent[]>;

/**
 * One aggregate of the definitions as a decider (Emmett's / Chassaing's shape): pure functions of
 * the command, the state and the events, with no I/O. The command bus loads, decides and appends.
 */
export interface Aggregate {
  readonly name: string;
  /** Command types its `handle` decides. */
  readonly commands: readonly string[];
  /** Store a snapshot every this many events; undefined: never. */
  readonly snapshotEvery: number | undefined;
  /** Changes whenever `initial` or `evolve` change, so a snapshot of an older definition is ignored. */
  readonly fingerprint: string;
  initialState(): Promise<AggregateState>;
  /** The state after `event` (upcast to its latest version); an event it does not evolve changes nothing. */
  evolve(state: AggregateState, event: Envelope): Promise<AggregateState>;
  /** The stream `command` addresses: its `streamId` expression over the command. */
  streamIdOf(command: Envelope): Promise<string>;
  /**
   * The events `command` produces against `state`, as complete envelopes caused by the command and
   * valid against their latest schema. Throws EDA_COMMAND_REJECTED when the command is refused.
   */
  decide(command: Envelope, state: AggregateState): Promise<Envelope[]>;
}

export interface AggregateOptions {
  readonly catalog: MessageCatalog;
  /** The handlers module: typed deciders by name. */
  readonly functions: HandlerFunctions;
  /** The CloudEvents `source` of decided events. */
  readonly source: string;
}

type Decision = NonNullable<Document.AggregateDefinition['handle'][string]>;
type EmitSpec = Document.EventName | Document.Emit;

export function createAggregate(definition: Defined<Document.AggregateDefinition>, options: AggregateOptions): Aggregate {
  const { name, spec } = definition;
  const evolves = spec.evolve ?? {};
  // Compile the selectors now: a bad one fails at start, and each evaluation reuses the compiled form.
  compileExpression(spec.streamId);
  for (const decision of Object.values(spec.handle)) if (decision?.when !== undefined) compileExpression(decision.when);
  let initial: Promise<AggregateState> | undefined;

  const streamIdOf = async (command: Envelope): Promise<string> => {
    const value = await evaluateExpression(spec.streamId, commandScope(command));
    const addressed = (typeof value === 'string' && value !== '') || typeof value === 'number';
    if (!addressed) {
      throw new EdaflowError('EDA_PAYLOAD_INVALID', `${command.type}: the stream id of ${name} (\`${spec.streamId}\`) is ${value === undefined ? 'missing' : JSON.stringify(value)} in the command`, { details: { pointer: '', aggregate: name } });
    }
    return String(value);
  };

  const decideEvents = async (command: Envelope, state: AggregateState): Promise<readonly DecidedEvent[]> => {
    const decision = decisionFor(name, spec, command.type);
    const scope = { ...commandScope(command), state };
    if (decision.when !== undefined && !(await evaluateExpression(decision.when, scope))) {
      throw new EdaflowError('EDA_COMMAND_REJECTED', decision.reject ?? `${name} refuses ${command.type}: \`${decision.when}\` is false`, { details: { aggregate: name, command: command.type } });
    }
    if (decision.handler !== undefined) return runDecider(name, decision.handler, options.functions, command, state, Object.keys(evolves));
    return Promise.all(asList<EmitSpec>(decision.emit).map((emit) => emittedEvent(emit, command, scope)));
  };

  return {
    name,
    commands: Object.keys(spec.handle),
    snapshotEvery: spec.snapshotEvery,
    fingerprint: createHash('sha256').update(JSON.stringify([spec.initial, evolves])).digest('hex').slice(0, 16),
    initialState: () => (initial ??= evaluateTemplate(spec.initial, {}).then(asState)),
    evolve: async (state, event) => {
      const template = evolves[event.type];
      if (template === undefined) return state;
      return { ...state, ...asState(await evaluateTemplate(template, { ...event, state })) };
    },
    streamIdOf,
    decide: async (command, state) => {
      const streamId = await streamIdOf(command);
      const events = await decideEvents(command, state);
      return events.map((event, index) => toEnvelope(name, event, command, streamId, index, options));
    },
  };
}

/** Folds `events` over `state` in order. */
export async function evolveAll(aggregate: Aggregate, state: AggregateState, events: Iterable<Envelope>): Promise<AggregateState> {
  let current = state;
  for (const event of events) current = await aggregate.evolve(current, event);
  return current;
}

/** What `streamId`, `when` and `emit` templates see: the command envelope, its data as `command`. */
function commandScope(command: Envelope): Record<string, unknown> {
  return { ...command, command: command.data };
}

function decisionFor(aggregate: string, spec: Document.AggregateDefinition, command: string): Decision {
  const decision = spec.handle[command];
  if (!decision) throw new EdaflowError('EDA_UNKNOWN_TYPE', `aggregate ${aggregate} does not handle ${command}`);
  return decision;
}

async function emittedEvent(emit: EmitSpec, command: Envelope, scope: Record<string, unknown>): Promise<DecidedEvent> {
  if (typeof emit === 'string') return { type: emit, data: command.data };
  return { type: emit.event, data: emit.data === undefined ? command.data : await evaluateTemplate(emit.data, scope) };
}

/**
 * Runs a typed decider. Whatever it throws rejects the command with its message, except an
 * EdaflowError, which already says what it is. It may only decide events the aggregate evolves.
 */
async function runDecider(aggregate: string, handler: string, functions: HandlerFunctions, command: Envelope, state: AggregateState, evolved: readonly string[]): Promise<readonly DecidedEvent[]> {
  const decider = functions[handler] as unknown as DeciderFunction | undefined;
  if (typeof decider !== 'function') throw new EdaflowError('EDA_HANDLERS_MODULE', `decider ${handler} (aggregate ${aggregate}) is not exported by the handlers module`);
  let events: readonly DecidedEvent[];
  try {
    events = await decider(command, state);
  } catch (error) {
    if (isEdaflowError(error)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new EdaflowError('EDA_COMMAND_REJECTED', message, { cause: error, details: { aggregate, command: command.type } });
  }
  if (!Array.isArray(events)) throw new EdaflowError('EDA_DECIDED_EVENT_INVALID', `decider ${handler} of ${aggregate} returned ${typeof events}, not a list of events`);
  for (const event of events) {
    if (!evolved.includes(event.type)) {
      throw new EdaflowError('EDA_DECIDED_EVENT_INVALID', `decider ${handler} of ${aggregate} decided ${String(event.type)}, which the aggregate does not evolve (evolve: [${evolved.join(', ')}])`);
    }
  }
  return events;
}

/**
 * A decided event as a complete envelope; data failing its schema is a server bug, not a client error.
 * Its id is a function of the command's id, the stream and its place among the decided events: a
 * command decided again after a crash (or after a snapshot hid its events) decides the same ids, and
 * the store's unique ids refuse the second append.
 */
function toEnvelope(aggregate: string, event: DecidedEvent, command: Envelope, streamId: string, index: number, options: AggregateOptions): Envelope {
  try {
    options.catalog.assertPublishable(event.type, event.data);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new EdaflowError('EDA_DECIDED_EVENT_INVALID', `${aggregate} decided an invalid event for ${command.type}: ${reason}`, { cause: error, details: { aggregate, command: command.type, event: event.type } });
  }
  return createEnvelope(event.type, event.data, options.source, causedBy(command, { id: deterministicId('decided', command.id, streamId, String(index)), subject: streamId, dataversion: options.catalog.latestVersion(event.type) }));
}

function asState(value: unknown): AggregateState {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as AggregateState) : {};
}
