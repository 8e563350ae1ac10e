import type { Delivery } from '../adapter.js';
import { deadLetterHeaders } from '../dead-letter.js';
import { claimPartitions, releasePartitions, type PartitionPosition } from './claim-partitions.js';
import type { LoopContext } from './consume-queue.js';
import { enqueue } from './enqueue.js';
import { forgetEnded, walk, type CommitCursor, type SnapshotInfo } from '../../store/commit-cursor.js';
import { countTopicAttempt, readPartition, uncountTopicAttempt, type TopicRow } from './read-partition.js';
import { savePosition } from './save-position.js';
import { Signal } from '../../core/signal.js';
import { trimTopic } from './trim-topic.js';

export interface TopicContext extends LoopContext {
  readonly topic: string;
  readonly group: string;
  /** This subscription's lease holder id. */
  readonly owner: string;
  /** Unsettled rows per partition before the reader waits. */
  readonly prefetch: number;
  /** The topic's retention, applied as the leases are renewed. */
  readonly retentionMs: number | null;
  /** Resolves when the subscription stops: cuts retry pauses short. */
  readonly stopped: Promise<void>;
  /** Registers a partition loop's wake-up for NOTIFYs of the topic; returns the unregistration. */
  readonly onNotify: (wake: () => void) => () => void;
}

/**
 * One consumer group's share of a topic: leases partitions (renewing every third of the lease, and
 * taking over expired ones), and runs a reader per leased partition.
 */
export class TopicGroupConsumer {
  private readonly partitions = new Map<number, PartitionReader>();
  private readonly heartbeat = new Signal();

  constructor(private readonly context: TopicContext) {}

  async run(): Promise<void> {
    while (this.context.running()) {
      await claimPartitions(this.context.db, this.context.topic, this.context.group, this.context.owner, this.context.leaseMs).then(
        (claimed) => this.follow(claimed),
        (error: unknown) => this.context.onError(error, `leasing partitions of ${this.context.topic}`),
      );
      if (this.context.retentionMs !== null) {
        await trimTopic(this.context.db, this.context.topic, this.context.retentionMs).catch((error: unknown) => this.context.onError(error, `trimming ${this.context.topic}`));
      }
      await this.heartbeat.wait(this.context.leaseMs / 3);
    }
    await Promise.all([...this.partitions.values()].map((reader) => reader.done));
  }

  wake(): void {
    this.heartbeat.wake();
    for (const reader of this.partitions.values()) reader.signal.wake();
  }

  /** After the lanes are idle: saves the final positions and gives the partitions back. */
  async finish(): Promise<void> {
    await Promise.all([...this.partitions.values()].map((reader) => reader.finish()));
    await releasePartitions(this.context.db, this.context.topic, this.context.group, this.context.owner).catch((error: unknown) => this.context.onError(error, 'releasing partitions'));
  }

  private follow(claimed: readonly PartitionPosition[]): void {
    const owned = new Set(claimed.map((position) => position.partition));
    for (const position of claimed) {
      if (!this.partitions.has(position.partition)) this.partitions.set(position.partition, new PartitionReader(this.context, position));
    }
    // Lost a lease (this process stalled past it): another consumer now reads from the saved position.
    for (const [partition, reader] of this.partitions) {
      if (owned.has(partition)) continue;
      reader.lose();
      this.partitions.delete(partition);
    }
  }
}

interface Entry {
  readonly transactionId: string;
  readonly position: string;
  /** The cursor once this row (and every row read before it) has settled: what is saved then. */
  after: CommitCursor;
  delivered: boolean;
  settled: boolean;
}

/**
 * Reads one partition in order and hands rows to the lanes (per-key order, bounded concurrency). The
 * saved position only ever moves to the end of the settled prefix, so a crash redelivers whatever was
 * unsettled, never skips it.
 */
class PartitionReader {
  readonly signal = new Signal();
  readonly done: Promise<void>;
  private cursor: CommitCursor;
  private readonly pending: Entry[] = [];
  private unsaved: CommitCursor | undefined;
  private saving: Promise<void> | undefined;
  private saveAgain = false;
  private lost = false;
  private readonly unregister: () => void;

  constructor(private readonly context: TopicContext, private readonly start: PartitionPosition) {
    this.cursor = { transactionId: start.transactionId, position: start.position, late: start.late };
    this.unregister = context.onNotify(() => this.signal.wake());
    this.done = this.run().finally(this.unregister);
  }

  lose(): void {
    this.lost = true;
    this.signal.wake();
  }

  private get at(): { topic: string; group: string; partition: number } {
    return { topic: this.context.topic, group: this.context.group, partition: this.start.partition };
  }

  private async run(): Promise<void> {
    while (this.context.running() && !this.lost) {
      const room = this.context.prefetch - this.pending.length;
      this.signal.reset();
      const read = room > 0 ? await readPartition(this.context.db, this.at, this.cursor, room).catch((error: unknown) => this.failed(error)) : undefined;
      if (!read?.rows.length) {
        if (read) this.forgetEnded(read.snapshot);
        if (this.unsaved) void this.save();
        await this.signal.wait(this.context.pollMs);
        continue;
      }
      // The whole batch joins the window first: rows read but never handed over (the consumer stopped)
      // stay unsettled, so the saved position stays before them and `finish` uncounts them.
      const { afters, next } = walk(this.cursor, read.rows, read.snapshot, read.rows.length < room);
      // The last row's `after` is where the next read starts: saved once it settles.
      afters[afters.length - 1] = this.cursor = next;
      const batch = read.rows.map((row, index) => ({ row, entry: { transactionId: row.transactionId, position: row.position, after: afters[index]!, delivered: false, settled: false } }));
      this.pending.push(...batch.map(({ entry }) => entry));
      for (const { row, entry } of batch) {
        if (!this.context.running() || this.lost) break;
        await this.context.lanes.submit(row.key, () => this.deliverUntilSettled(row, entry));
      }
    }
  }

  private failed(error: unknown): undefined {
    this.context.onError(error, `reading ${this.context.topic} partition ${this.start.partition}`);
    return undefined;
  }

  /** A read found nothing new: late transactions that have ended left nothing more to read. */
  private forgetEnded(snapshot: SnapshotInfo): void {
    const cursor = forgetEnded(this.cursor, snapshot);
    if (cursor === this.cursor) return;
    this.cursor = cursor;
    if (!this.pending.length) this.unsaved = cursor;
  }

  /**
   * Kafka's semantics: a retried row holds its key's lane, in process, until it settles. A row counts
   * as settled when it is acknowledged or dead-lettered, which may come after `deliver` resolved (a late
   * ack, capabilities.lateAck): the lane moves on meanwhile, and the saved position waits for it.
   */
  private async deliverUntilSettled(row: TopicRow, entry: Entry): Promise<void> {
    // Stopping (or the partition lost): a row queued behind its key must not overtake one left unsettled.
    if (!this.context.running() || this.lost) return;
    entry.delivered = true;
    const at = { ...this.at, transactionId: row.transactionId, position: row.position };
    for (let attempt = row.attempt; ; ) {
      let retryAfter: number | undefined;
      try {
        await this.context.deliver(this.delivery(row, entry, attempt, (delayMs) => void (retryAfter = delayMs)));
      } catch (error) {
        // A settlement that could not be written (database gone): try the row again later.
        this.context.onError(error, `delivering from ${this.context.topic}`);
        retryAfter = this.context.pollMs;
      }
      if (retryAfter === undefined) return;
      // Stopping mid-pause leaves the row unsettled: the group's next consumer gets it again.
      if (!(await this.pause(retryAfter)) || this.lost) return;
      attempt = await countTopicAttempt(this.context.db, at).catch(() => attempt + 1);
    }
  }

  private settle(entry: Entry): void {
    if (entry.settled) return;
    entry.settled = true;
    // Shrink the window before waking the reader, or it would wake to a full window and sleep on.
    while (this.pending[0]?.settled) this.unsaved = this.pending.shift()!.after;
    // Everything read has settled: the cursor as it stands now (with ended late transactions forgotten) is saved.
    if (!this.pending.length && this.unsaved) this.unsaved = this.cursor;
    this.signal.wake();
    void this.save();
  }

  private async pause(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
    const result = await Promise.race([elapsed, this.context.stopped.then(() => false)]);
    clearTimeout(timer);
    return result && this.context.running();
  }

  private delivery(row: TopicRow, entry: Entry, attempt: number, retry: (delayMs: number) => void): Delivery {
    return {
      headers: row.headers,
      body: row.body,
      attempt,
      ...(row.key !== undefined ? { key: row.key } : {}),
      ack: async () => this.settle(entry),
      retry: async (delayMs) => retry(delayMs),
      deadLetter: async (info) => {
        if (this.context.deadLetter !== null) {
          const moved = { headers: { ...row.headers, ...deadLetterHeaders(info) }, body: row.body, ...(row.key !== undefined ? { key: row.key } : {}) };
          await this.context.db.transaction((tx) => enqueue(tx, this.context.deadLetter!, [moved]));
        }
        this.settle(entry);
      },
    };
  }

  /** Saves the final position and uncounts the rows read ahead but never delivered. */
  async finish(): Promise<void> {
    await this.save();
    for (const entry of this.pending.filter((pending) => !pending.delivered)) {
      await uncountTopicAttempt(this.context.db, { ...this.at, transactionId: entry.transactionId, position: entry.position }).catch((error: unknown) =>
        this.context.onError(error, 'uncounting an undelivered row'),
      );
    }
  }

  /** Saves the end of the settled prefix; one save at a time, coalescing the ones asked meanwhile. */
  save(): Promise<void> {
    if (this.saving) {
      this.saveAgain = true;
      return this.saving;
    }
    this.saving = this.saveLoop().finally(() => (this.saving = undefined));
    return this.saving;
  }

  private async saveLoop(): Promise<void> {
    do {
      this.saveAgain = false;
      const target = this.unsaved;
      if (!target) return;
      try {
        await savePosition(this.context.db, { ...this.at, owner: this.context.owner }, target);
        if (this.unsaved === target) this.unsaved = undefined;
      } catch (error) {
        this.context.onError(error, `saving the position of ${this.context.group} on ${this.context.topic}`);
        return;
      }
    } while (this.saveAgain);
  }
}
