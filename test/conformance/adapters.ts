import type { BrokerAdapter } from '../../runtime/brokers/adapter.js';

/** A broker implementation the conformance suite runs against, and the servers it needs. */
export interface AdapterUnderTest {
  readonly name: string;
  /** Names understood by test/servers/servers.mjs (`ensureServers`). */
  readonly servers: readonly string[];
  /** True when only one process at a time may open the broker's storage (the embedded database). */
  readonly exclusive?: boolean;
  /**
   * A new adapter. With `share`, processes that pass the same value reach the same topics and queues
   * (adapters whose state lives on a server share it anyway); `keep` leaves shared storage in place on
   * close, for the next process.
   */
  create(options?: CreateOptions): Promise<BrokerAdapter>;
}

export interface CreateOptions {
  readonly share?: string;
  readonly keep?: boolean;
}

/**
 * Every adapter, each against its real server: one file per adapter in ./adapters/, each exporting
 * `adapters` (a list, so one file can register variants such as postgres on PGlite and on PostgreSQL).
 */
const modules = import.meta.glob<{ adapters: readonly AdapterUnderTest[] }>('./adapters/*.ts', { eager: true });
export const ADAPTERS: readonly AdapterUnderTest[] = Object.keys(modules).sort().flatMap((path) => modules[path]!.adapters);
