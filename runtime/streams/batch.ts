import type { Envelope } from '../envelope/index.js';
import type { DropReason, StepResult, StreamRecord } from './record.js';
import type { StepsDone } from './store/save-steps.js';

/** One input message taken into a batch: stepped (its outputs those that fit their schemas), or a redelivery. */
export type BatchEntry =
  | { readonly topic: string; readonly envelope: Envelope; readonly result: StepResult }
  | { readonly topic: string; readonly envelope: Envelope; readonly duplicate: true };

/**
 * Input messages stepped in memory whose effects are not committed yet. `committed` settles when the
 * transaction that writes them does (or a rebuilt batch's, after a failed one: see `follow`).
 */
export class StepBatch {
  readonly entries: BatchEntry[] = [];
  readonly committed: Promise<void>;
  private resolveCommitted!: () => void;
  private rejectCommitted!: (error: unknown) => void;

  constructor() {
    this.committed = new Promise<void>((resolve, reject) => {
      this.resolveCommitted = resolve;
      this.rejectCommitted = reject;
    });
    // Waited on by the pipeline of each message; a rejection nobody waits for is not an error.
    this.committed.catch(() => undefined);
  }

  get size(): number {
    return this.entries.length;
  }

  done(): void {
    this.resolveCommitted();
  }

  fail(error: unknown): void {
    this.rejectCommitted(error);
  }

  /** Settles when `rebuilt` does: its entries are this batch's, stepped again. */
  follow(rebuilt: StepBatch): void {
    rebuilt.committed.then(() => this.done(), (error: unknown) => this.fail(error));
  }
}

/**
 * The sum of what `entries` did, for one transaction. The stream time is the last stepped entry's (not
 * the processor's: it may be stepping a message of the next batch already); none for only redeliveries.
 */
export function stepsDone(entries: readonly BatchEntry[]): StepsDone {
  let streamTime: number | undefined;
  const added: StreamRecord[] = [];
  const matched: string[] = [];
  const removed: string[] = [];
  const dropped = new Map<DropReason, number>();
  const handled = new Map<string, number>();
  let emitted = 0;
  for (const entry of entries) {
    handled.set(entry.topic, (handled.get(entry.topic) ?? 0) + 1);
    const reason: DropReason | undefined = 'duplicate' in entry ? 'duplicate' : entry.result.dropped;
    if (reason) dropped.set(reason, (dropped.get(reason) ?? 0) + 1);
    if ('duplicate' in entry) continue;
    streamTime = entry.result.streamTime ?? streamTime;
    added.push(...entry.result.added);
    matched.push(...entry.result.matched);
    removed.push(...entry.result.removed);
    emitted += entry.result.outputs.length;
  }
  return { streamTime, added, matched, removed, emitted, dropped, handled };
}
