import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Queryable } from './database.js';

/** A named lease held by one owner at a time (the outbox relay, a projection's runner). */
export interface Lease {
  readonly name: string;
  readonly owner: string;
  /** True until the lease's time runs out (as this process counts it, conservatively) or it is released. */
  held(): boolean;
  /** Extends the lease by its time to live; false (and no longer held) when another owner took it meanwhile. */
  renew(): Promise<boolean>;
  /** Gives the lease up at once, so another owner need not wait for it to expire. */
  release(): Promise<void>;
}

/**
 * Tries to take or renew lease `name` for `ttlMs`; resolves undefined when someone else holds it. A
 * holder that stops renewing (a crashed process) loses it once `ttlMs` has passed. Expiry is judged on
 * the database's clock, so the holders' clocks need not agree; `held()` counts from before the
 * statement ran, so it never claims a lease the database already considers expired.
 */
export async function acquireLease(database: Queryable, name: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
  const lease = new HeldLease(database, name, owner, ttlMs);
  return (await lease.renew()) ? lease : undefined;
}

class HeldLease implements Lease {
  private validUntil = 0;

  constructor(
    private readonly database: Queryable,
    readonly name: string,
    readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  held(): boolean {
    return Date.now() < this.validUntil;
  }

  async renew(): Promise<boolean> {
    const asked = Date.now();
    const { rows } = await this.database.query(
      `insert into edaflow_leases (name, owner, expires_at) values ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
       on conflict (name) do update set owner = excluded.owner, expires_at = excluded.expires_at
       where edaflow_leases.owner = excluded.owner or edaflow_leases.expires_at < now()
       returning owner`,
      [this.name, this.owner, this.ttlMs],
    );
    this.validUntil = rows.length ? asked + this.ttlMs : 0;
    return rows.length > 0;
  }

  async release(): Promise<void> {
    this.validUntil = 0;
    await this.database.query('delete from edaflow_leases where name = $1 and owner = $2', [this.name, this.owner]);
  }
}

/** A lease owner name unique to this process: host, pid and a random suffix (after `prefix`, if any). */
export function processOwner(prefix?: string): string {
  return `${prefix ? `${prefix}:` : ''}${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}
