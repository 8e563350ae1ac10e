import type { Envelope } from '../envelope/index.js';
import { AggregateProcessor } from './aggregate.js';
import { FilterProcessor } from './filter.js';
import { JoinProcessor } from './join.js';
import type { StreamModel } from './model.js';
import type { StepResult, StreamRecord } from './record.js';

/** What a processor starts from: nothing, or the stream time and records a previous run left in the database. */
export interface StreamSnapshot {
  readonly streamTime: number | undefined;
  readonly records: readonly StreamRecord[];
}

/**
 * The core of a stream: records in, outputs out, decided by event time alone (stream time is the
 * largest event time seen; no clock is read, no timer runs), with no I/O. `step` moves the processor
 * to its next state and returns the difference (records kept, matched, forgotten) and the outputs,
 * which the durable runner commits in one transaction. The state is changed in place for speed (a
 * join may hold a million records); a caller whose commit fails rebuilds the processor from the
 * database. A step that throws (an expression failing) has changed nothing.
 */
export interface StreamProcessor {
  readonly model: StreamModel;
  /** The largest event time seen; undefined before the first record. */
  readonly streamTime: number | undefined;
  /** How many records the state holds. */
  readonly buffered: number;
  step(envelope: Envelope): Promise<StepResult>;
}

export function createProcessor(model: StreamModel, snapshot: StreamSnapshot = { streamTime: undefined, records: [] }): StreamProcessor {
  switch (model.kind) {
    case 'join':
      return new JoinProcessor(model, snapshot);
    case 'aggregate':
      return new AggregateProcessor(model, snapshot);
    case 'filter':
      return new FilterProcessor(model, snapshot.streamTime);
  }
}
