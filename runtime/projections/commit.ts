import type { LogCursor, ReadAllPage, RecordedEvent } from '../eventstore/index.js';
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
 * Applies a page of events and moves the checkpoint from `from` to the page's `next`, in one
 * transaction; returns that cursor. When the page fails, its events are committed one per
 * transaction, so every event before the failing one is kept and the error names the event that
 * failed (its type, id and position). A StaleCheckpoint (the checkpoint is not at `from`) is thrown as is.
 */
export async function commitPage(target: CommitTarget, page: ReadAllPage, from: LogCursor): Promise<LogCursor> {
  try {
    return await commitEvents(target, page.events, from, page.next);
  } catch (error) {
    if (error instanceof StaleCheckpoint) throw error;
    if (page.events.length === 1) throw applyFailure(target.projection.name, page.events[0]!, error);
    let cursor = from;
    for (const event of page.events) {
      try {
        cursor = await commitEvents(target, [event], cursor, event.after);
      } catch (failure) {
        throw failure instanceof StaleCheckpoint ? failure : applyFailure(target.projection.name, event, failure);
      }
    }
    return cursor;
  }
}

async function commitEvents(target: CommitTarget, events: readonly RecordedEvent[], from: LogCursor, to: LogCursor): Promise<LogCursor> {
  const name = target.projection.name;
  await target.database.transaction(async (tx) => {
    await claimCheckpoint(tx, name, from);
    await target.apply(tx, events.map((event) => event.envelope));
    await advanceCheckpoint(tx, name, to);
  });
  return to;
}

function applyFailure(projection: string, event: RecordedEvent, error: unknown): Error {
  const message = `projection ${projection} failed on ${event.envelope.type} ${event.envelope.id} (position ${event.position}): ${error instanceof Error ? error.message : String(error)}`;
  if (isEdaflowError(error)) return new EdaflowError(error.code, message, { cause: error, details: { ...error.details, projection, position: event.position } });
  return new Error(message, { cause: error });
}
