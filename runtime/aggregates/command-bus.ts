import { setTimeout as sleep } from 'node:timers/promises';
import { auditCommand, outcomeOfError, SYSTEM_USER } from '../audit/index.js';
import type { Definitions } from '../definitions/index.js';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { EventStore, RecordedEvent } from '../eventstore/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { Logger } from '../observability/logger.js';
import { createAggregate, type Aggregate } from './decider.js';
import { loadState, snapshotIfDue } from './state.js';

/** Retries of a command whose append met a concurrent writer, each on freshly loaded state. */
export const MAX_CONFLICT_RETRIES = 5;

export interface CommandResult {
  readonly streamId: string;
  /** The stream's version after the command (unchanged when it decided no event). */
  readonly version: number;
  readonly events: readonly Envelope[];
}

export interface CommandBus {
  /** True when an aggregate handles this command type. */
  handles(type: string): boolean;
  /**
   * Decides the command against its aggregate's state and appends the events (retrying a
   * concurrency conflict up to 5 times, reloading state each time). A failed `when`, or a typed
   * decider that throws, rejects: EdaflowError 'EDA_COMMAND_REJECTED' (status 409) whose message is
   * the `reject` text / the thrown message.
   */
  execute(command: Envelope, options?: ExecuteOptions): Promise<CommandResult>;
}

export interface ExecuteOptions {
  /** The caller writes the command's audit line itself (the HTTP API, which knows the user); otherwise the bus does, as `system`. */
  readonly audited?: boolean;
}

export interface CommandBusOptions {
  readonly definitions: Definitions;
  readonly catalog: MessageCatalog;
  readonly store: EventStore;
  readonly functions: HandlerFunctions;
  readonly logger: Logger;
}

export function createCommandBus(options: CommandBusOptions): CommandBus {
  const aggregates = aggregatesByCommand(options);
  return {
    handles: (type) => aggregates.has(type),
    execute: async (command, execute = {}) => {
      if (execute.audited) return executeCommand(aggregates, command, options);
      try {
        const result = await executeCommand(aggregates, command, options);
        auditCommand(options.logger, { user: SYSTEM_USER, command: command.type, id: command.id, outcome: 'completed', via: 'bus', fields: { streamId: result.streamId, version: result.version } });
        return result;
      } catch (error) {
        auditCommand(options.logger, { user: SYSTEM_USER, command: command.type, id: command.id, outcome: outcomeOfError(error), via: 'bus', fields: isEdaflowError(error) ? { code: error.code } : {} });
        throw error;
      }
    },
  };
}

function executeCommand(aggregates: ReadonlyMap<string, Aggregate>, command: Envelope, options: CommandBusOptions): Promise<CommandResult> {
  const aggregate = aggregates.get(command.type);
  if (!aggregate) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no aggregate handles ${command.type}`);
  options.catalog.assertPublishable(command.type, command.data);
  return executeOn(aggregate, command, options);
}

function aggregatesByCommand(options: CommandBusOptions): Map<string, Aggregate> {
  const byCommand = new Map<string, Aggregate>();
  for (const definition of options.definitions.aggregates.values()) {
    const aggregate = createAggregate(definition, { catalog: options.catalog, functions: options.functions, source: options.definitions.defaults.source });
    for (const command of aggregate.commands) byCommand.set(command, aggregate);
  }
  return byCommand;
}

/**
 * Load → decide → append with the loaded version as the expected one. A conflict means another
 * writer got there first: the decision may no longer hold, so it is taken again on the new state.
 */
async function executeOn(aggregate: Aggregate, command: Envelope, options: CommandBusOptions): Promise<CommandResult> {
  const streamId = await aggregate.streamIdOf(command);
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadState(aggregate, options.store, streamId);
    const earlier = causedResult(command, streamId, loaded.events);
    if (earlier) return earlier;
    const events = await aggregate.decide(command, loaded.state);
    if (events.length === 0) return { streamId, version: loaded.version, events };
    try {
      const { nextExpectedVersion } = await options.store.append(streamId, events, { expectedVersion: loaded.version, streamType: aggregate.name });
      await snapshotIfDue(aggregate, options.store, streamId, loaded, events, nextExpectedVersion, options.logger);
      return { streamId, version: nextExpectedVersion, events };
    } catch (error) {
      if (isEdaflowError(error, 'EDA_DUPLICATE_EVENT')) {
        // Its events are stored although the loaded state did not show them (a snapshot was taken after them).
        const stored = causedResult(command, streamId, await options.store.readStream(streamId));
        if (stored) return stored;
      }
      if (!isEdaflowError(error, 'EDA_CONCURRENCY_CONFLICT') || attempt > MAX_CONFLICT_RETRIES) throw error;
      options.logger.debug({ aggregate: aggregate.name, streamId, command: command.type, attempt }, 'concurrency conflict: deciding again');
      await sleep(conflictBackoffMs(attempt));
    }
  }
}

/**
 * A command delivered again (a queue redelivers after a crash between append and ack, an HTTP retry
 * after a lost answer) must not be decided twice: when `events` include some it caused, its earlier
 * result is returned instead. Undefined when none was caused by it.
 */
function causedResult(command: Envelope, streamId: string, events: readonly RecordedEvent[]): CommandResult | undefined {
  const caused = events.filter((event) => event.envelope.causationid === command.id);
  if (caused.length === 0) return undefined;
  return { streamId, version: caused.at(-1)!.version, events: caused.map((event) => event.envelope) };
}

/** Random (full jitter), growing delay, so writers racing for one stream stop colliding in lockstep. */
function conflictBackoffMs(attempt: number): number {
  return Math.floor(Math.random() * 5 * 2 ** attempt);
}
