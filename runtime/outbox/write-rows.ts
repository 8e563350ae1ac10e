import { chunks, valuesList } from '../brokers/postgres/wire.js';
import type { Envelope } from '../envelope/index.js';
import type { InsertPart } from '../store/insert-part.js';

/** The NOTIFY channel that wakes the relay, sent once the writing transaction has committed. */
export const OUTBOX_CHANNEL = 'edaflow_outbox';

/** The inserts of envelopes for the relay to publish, in order (ids follow the insert order). */
export function outboxInserts(envelopes: readonly Envelope[]): InsertPart[] {
  return chunks(envelopes).map((chunk) => ({
    into: 'edaflow_outbox (envelope)',
    select: (offset) => `select envelope from (values ${valuesList(chunk.length, ['::jsonb'], offset)}) as v (envelope)`,
    params: chunk.map((envelope) => JSON.stringify(envelope)),
    wake: { channel: OUTBOX_CHANNEL, payload: '' },
  }));
}
