import { chunks, valuesList } from '../brokers/postgres/wire.js';
import type { Envelope } from '../envelope/index.js';
import { notifyAfterCommit, type Queryable } from '../store/database.js';

/** The NOTIFY channel that wakes the relay, sent once the writing transaction has committed. */
export const OUTBOX_CHANNEL = 'edaflow_outbox';

/** Inserts envelopes for the relay to publish, in the caller's transaction, in order. */
export async function insertOutboxRows(tx: Queryable, envelopes: readonly Envelope[]): Promise<void> {
  for (const chunk of chunks(envelopes)) {
    await tx.query(`insert into edaflow_outbox (envelope) values ${valuesList(chunk.length, ['::jsonb'], 0)}`, chunk.map((envelope) => JSON.stringify(envelope)));
  }
  if (envelopes.length) await notifyAfterCommit(tx, OUTBOX_CHANNEL);
}
