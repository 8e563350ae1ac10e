import { randomUUID } from 'node:crypto';
import type { OutgoingMessage } from '../brokers/adapter.js';
import { Signal } from '../core/signal.js';
import { EdaflowError } from '../errors/index.js';
import type { Publisher, Route } from '../messaging/publisher.js';
import type { Logger } from '../observability/logger.js';
import type { Database } from '../store/database.js';
import { publishBatchSpan } from '../tracing/index.js';
import { acquireLease, type Lease } from '../store/leases.js';
import { sameDestination } from './outbox.js';
import { deleteSentRows, markDead, readPendingRows, recordFailure, type OutboxRow } from './pending-rows.js';
import { OUTBOX_CHANNEL } from './write-rows.js';

/** The one lease all relays on a database compete for: rows go out in order only if one relay sends them. */
export const RELAY_LEASE = 'edaflow-outbox-relay';

export interface OutboxRelayOptions {
  readonly database: Database;
  readonly publisher: Publisher;
  readonly logger: Logger;
  /** The polling fallback behind LISTEN/NOTIFY. Default 1 s. */
  readonly pollIntervalMs?: number;
  /** How long the lease outlives a relay that stops renewing it (a crashed process). Default 10 s. */
  readonly leaseMs?: number;
  /** Rows read per round. Default 100. */
  readonly batchSize?: number;
}

export interface OutboxRelay {
  stop(): Promise<void>;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Publishes the outbox: one relay at a time (a lease), woken by NOTIFY 'edaflow_outbox' and polling as
 * a fallback; reads rows in id order, publishes each run of consecutive rows to one destination as one
 * batch, and deletes rows once the broker acknowledged them. A broker that fails keeps its rows: the
 * relay logs, records the attempt on the row and backs off, then starts again from the oldest unsent
 * row, so nothing is dropped or overtaken. A crash between publish and delete publishes again
 * (at least once; consumers dedupe by id).
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const relay = new Relay(options);
  await relay.start();
  return relay;
}

/** Consecutive rows bound for one destination, or one row for in-process dispatch (route undefined). */
interface Run {
  readonly route: Route | undefined;
  readonly rows: OutboxRow[];
  readonly messages: OutgoingMessage[];
}

class Relay implements OutboxRelay {
  private readonly signal = new Signal();
  private readonly owner = randomUUID();
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private running = true;
  private lease: Lease | undefined;
  private renewedAt = 0;
  private failures = 0;
  private loop: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly options: OutboxRelayOptions) {
    this.pollMs = options.pollIntervalMs ?? 1_000;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.batchSize = options.batchSize ?? 100;
  }

  async start(): Promise<void> {
    const { database } = this.options;
    // The embedded database belongs to one process: a lease left by a killed one can go at once.
    if (database.kind === 'embedded') await database.query('delete from edaflow_leases where name = $1', [RELAY_LEASE]);
    this.unlisten = await database.listen(OUTBOX_CHANNEL, () => this.signal.wake());
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.signal.wake();
    await this.loop;
    await this.unlisten?.().catch(() => undefined);
    await this.lease?.release().catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.signal.reset();
      let wait: number;
      try {
        wait = (await this.holdLease()) ? await this.round() : Math.min(this.pollMs, this.leaseMs / 2);
      } catch (error) {
        this.failures++;
        wait = this.backoffMs();
        this.options.logger.warn({ err: error, retryInMs: wait }, 'outbox relay: the database failed');
      }
      if (wait > 0 && this.running) await this.signal.wait(wait);
    }
  }

  /** One batch of rows; returns how long to wait before the next (0: more are waiting). */
  private async round(): Promise<number> {
    const rows = await readPendingRows(this.options.database, this.batchSize);
    const sentAll = await this.publish(rows);
    if (!sentAll) return this.backoffMs();
    this.failures = 0;
    return rows.length === this.batchSize ? 0 : this.pollMs;
  }

  /** Takes the lease, or renews it once a third of it has passed (renewing also retakes an expired one). */
  private async holdLease(): Promise<boolean> {
    if (this.lease?.held() && Date.now() - this.renewedAt < this.leaseMs / 3) return true;
    this.renewedAt = Date.now();
    if (this.lease) return this.lease.renew();
    this.lease = await acquireLease(this.options.database, RELAY_LEASE, this.owner, this.leaseMs);
    return this.lease !== undefined;
  }

  /** Publishes the rows run by run, in order; stops at the first failure (that row and all later ones stay). */
  private async publish(rows: readonly OutboxRow[]): Promise<boolean> {
    // Validates again (a row written under older definitions may no longer be publishable), and seals:
    // all rows at once, so an Ed25519 destination signs the round as one batch.
    const routes = await Promise.allSettled(rows.map((row) => this.options.publisher.route(row.envelope)));
    let run: Run | undefined;
    for (const [index, row] of rows.entries()) {
      const routed = routes[index]!;
      if (routed.status === 'rejected') return (!run || (await this.send(run))) && (await this.failed(row, routed.reason));
      const route: Route | undefined = routed.value;
      if (run && continues(run, route)) {
        run.rows.push(row);
        if (route) run.messages.push(route.message);
        continue;
      }
      if (run && !(await this.send(run))) return false;
      run = { route, rows: [row], messages: route ? [route.message] : [] };
    }
    return !run || this.send(run);
  }

  private async send(run: Run): Promise<boolean> {
    if (!this.running || !this.lease?.held()) return false;
    try {
      const route = run.route;
      if (route) await publishBatchSpan(run.rows.map((row) => row.envelope), route.destination.name, () => route.broker.publish(route.destination, run.messages));
      else await this.options.publisher.deliver(run.rows[0]!.envelope);
    } catch (error) {
      if (!run.route && givesUp(run.rows[0]!, error)) return this.dead(run.rows[0]!, error);
      return this.failed(run.rows[0]!, error);
    }
    await deleteSentRows(this.options.database, run.rows.map((row) => row.id));
    return true;
  }

  /** Logs the failure and counts it on the row; always false (the round stops here). */
  private async failed(row: OutboxRow, error: unknown): Promise<false> {
    this.failures++;
    const message = error instanceof Error ? error.message : String(error);
    this.options.logger.warn({ err: error, outboxId: row.id, type: row.envelope.type, failures: this.failures, retryInMs: this.backoffMs() }, 'outbox relay: publishing failed; the row stays and is retried in order');
    await recordFailure(this.options.database, row.id, message).catch(() => undefined);
    return false;
  }

  /**
   * An in-process command that its handler refuses (a rejected command, an invalid payload) or that keeps
   * failing is set aside like a dead letter, with its error: unlike a broker outage, waiting will not
   * help, and it must not hold back every row after it. The round goes on.
   */
  private async dead(row: OutboxRow, error: unknown): Promise<boolean> {
    const message = error instanceof Error ? error.message : String(error);
    this.options.logger.error({ err: error, outboxId: row.id, type: row.envelope.type, id: row.envelope.id, attempts: row.attempts + 1 }, 'outbox relay: an in-process message failed for good; it is kept in edaflow_outbox with dead_at set');
    await markDead(this.options.database, row.id, message);
    return true;
  }

  private backoffMs(): number {
    return Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(Math.max(this.failures - 1, 0), 16));
  }
}

/** Attempts of an in-process dispatch before its row is set aside. */
const IN_PROCESS_ATTEMPTS = 5;

function givesUp(row: OutboxRow, error: unknown): boolean {
  const permanent = error instanceof EdaflowError && !error.retriable;
  return permanent || row.attempts + 1 >= IN_PROCESS_ATTEMPTS;
}

/** Whether a row joins the run: same broker and destination. In-process dispatches go one by one (each deleted once handled). */
function continues(run: Run, route: Route | undefined): boolean {
  if (!route || !run.route) return false;
  return run.route.broker === route.broker && sameDestination(run.route.destination, route.destination);
}
