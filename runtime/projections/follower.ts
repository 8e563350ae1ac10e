import type { LogCursor, ReadAllOptions, ReadAllPage } from '../eventstore/index.js';
import type { Logger } from '../observability/logger.js';
import type { Database } from '../store/database.js';
import { acquireLease, type Lease } from '../store/leases.js';
import type { EventApplier } from './apply.js';
import { readCheckpoint, StaleCheckpoint } from './checkpoint.js';
import { commitPage } from './commit.js';
import type { ProjectionModel } from './model.js';

/** What following needs of the event store. */
export interface EventFeed {
  readAll(options: ReadAllOptions): Promise<ReadAllPage>;
  cursorAt(position: number, late?: ReadonlyMap<string, string>): Promise<LogCursor>;
}

export interface FollowerTuning {
  /** Events read and applied per transaction (default 500). */
  readonly pageSize?: number;
  /** How often to look for new events when no append notification came (default 1 s). */
  readonly pollIntervalMs?: number;
  /** How long a process holds a projection before another may take it over when it stops renewing (default 10 s). */
  readonly leaseTtlMs?: number;
  /** This process's name on leases (default host:pid:random). */
  readonly owner?: string;
}

export interface FollowerOptions extends FollowerTuning {
  readonly projection: ProjectionModel;
  readonly database: Database;
  readonly store: EventFeed;
  readonly apply: EventApplier;
  readonly logger: Logger;
}

const DEFAULT_PAGE_SIZE = 500;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
export const DEFAULT_LEASE_TTL_MS = 10_000;
const MAX_FAILURE_DELAY_MS = 30_000;

/** The lease that makes one process at a time apply a projection's events. */
export function projectionLease(name: string): string {
  return `projection:${name}`;
}

/**
 * Applies the projection's events in the store's commit-safe order. One process at a time does it,
 * holding the projection's lease (renewed while it works; taken over when its holder stops renewing).
 * Each page of events, its row changes, hook calls and the checkpoint commit in one transaction.
 */
export class EventFollower {
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private interrupt: (() => void) | undefined;
  private woken = false;
  private running: Promise<void> | undefined;
  private readonly pageSize: number;
  private readonly pollIntervalMs: number;
  private readonly leaseTtlMs: number;
  private readonly types: readonly string[];
  private readonly log: Logger;

  constructor(private readonly options: FollowerOptions & { readonly owner: string }) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.types = [...options.projection.reactions.keys()];
    this.log = options.logger.child({ projection: options.projection.name });
  }

  start(): void {
    this.running ??= this.run();
  }

  /** New events may be there (an append notification): stop waiting. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.interrupt?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const lease = await acquireLease(this.options.database, projectionLease(this.options.projection.name), this.options.owner, this.leaseTtlMs);
        if (!lease) {
          // Someone else applies this projection; look again in a while (not at every append), in case it died.
          await this.pause(this.leaseTtlMs / 3, false);
          continue;
        }
        this.log.info({ owner: this.options.owner }, 'following the event store');
        try {
          await this.follow(lease);
          failures = 0;
        } finally {
          await lease.release().catch(() => undefined);
        }
      } catch (error) {
        failures += 1;
        const delayMs = Math.min(MAX_FAILURE_DELAY_MS, 100 * 2 ** Math.min(failures, 9));
        this.log.error({ err: error, failures, delayMs }, 'projection failed; retrying');
        await this.pause(delayMs, false);
      }
    }
  }

  /** Applies pages for as long as the lease is held; returns when it is lost or the follower stops. */
  private async follow(lease: Lease): Promise<void> {
    let cursor = await this.savedCursor();
    let renewAt = Date.now() + this.leaseTtlMs / 3;
    while (!this.stopped) {
      if (Date.now() >= renewAt) {
        if (!(await lease.renew())) return;
        renewAt = Date.now() + this.leaseTtlMs / 3;
      }
      if (!lease.held()) return;
      const page = await this.options.store.readAll({ after: cursor, limit: this.pageSize, types: this.types });
      if (page.events.length) {
        try {
          cursor = await commitPage(this.options, page, cursor);
        } catch (error) {
          if (!(error instanceof StaleCheckpoint)) throw error;
          this.log.info({ expected: error.expected, actual: error.actual }, 'checkpoint moved; reloading it');
          cursor = await this.savedCursor();
        }
      }
      if (page.events.length < this.pageSize) await this.pause(Math.min(this.pollIntervalMs, Math.max(0, renewAt - Date.now())));
    }
  }

  private async savedCursor(): Promise<LogCursor> {
    const saved = await readCheckpoint(this.options.database, this.options.projection.name);
    return this.options.store.cursorAt(saved.position, saved.late);
  }

  /**
   * Waits `ms`; stopping ends the wait, and so does an append notification unless `byAppends` is false
   * (a failure's backoff must not shrink under a stream of appends). A notification that came while
   * the follower was working ends the next wait at once.
   */
  private pause(ms: number, byAppends = true): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (byAppends && this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.interrupt = undefined;
        if (byAppends) this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
      if (byAppends) this.wakeUp = done;
    });
  }
}
