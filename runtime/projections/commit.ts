import type { RecordedEvent } from '../eventstore/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { Database } from '../store/database.js';
import type { EventApplier } from './apply.js';
import { advanceCheckpoint, claimCheckpoint, StaleCheckpoint } from './checkpoint.js';
import type { ProjectionModel } from './model.js';

export interface CommitTarget {
  readonly database: Database;
  readonly projection: ProjectionModel;
  readonly apply: EventApplier;
}

/**
 * Applies a page of events and moves the checkpoint from `from` to the last one's position, in one
 * transaction; returns that position. When the page fails, its events are committed one per
 * transaction, so every event before the failing one is kept and the error names the event that
 * failed (its type, id and position). A StaleCheckpoint (the checkpoint is not at `from`) is thrown as is.
 */
export async function commitPage(target: CommitTarget, events: readonly RecordedEvent[], from: number): Promise<number> {
  try {
    return await commitEvents(target, events, from);
  } catch (error) {
    if (error instanceof StaleCheckpoint) throw error;
    if (events.length === 1) throw applyFailure(target.projection.name, events[0]!, error);
    let position = from;
    for (const event of events) {
      try {
        position = await commitEvents(target, [event], position);
      } catch (failure) {
        throw failure instanceof StaleCheckpoint ? failure : applyFailure(target.projection.name, event, failure);
      }
    }
    return position;
  }
}

async function commitEvents(target: CommitTarget, events: readonly RecordedEvent[], from: number): Promise<number> {
  const name = target.projection.name;
  const last = events[events.length - 1]!.position;
  await target.database.transaction(async (tx) => {
    await claimCheckpoint(tx, name, from);
    await target.apply(tx, events.map((event) => event.envelope));
    await advanceCheckpoint(tx, name, last);
  });
  return last;
}

function applyFailure(projection: string, event: RecordedEvent, error: unknown): Error {
  const message = `projection ${projection} failed on ${event.envelope.type} ${event.envelope.id} (position ${event.position}): ${error instanceof Error ? error.message : String(error)}`;
  if (isEdaflowError(error)) return new EdaflowError(error.code, message, { cause: error, details: { ...error.details, projection, position: event.position } });
  return new Error(message, { cause: error });
}
