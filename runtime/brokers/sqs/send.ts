import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { EdaflowError } from '../../errors/index.js';
import { toAttributes, wireSize, type WireEntry } from './wire.js';

/** SendMessageBatch takes 10 entries and 256 KiB in all (the limit ElasticMQ enforces; AWS now allows 1 MiB). */
const BATCH_ENTRIES = 10;
const BATCH_BYTES = 256 * 1024;
/** Entries the server failed on its side (not the sender's fault) are sent again this many times. */
const RESEND_ATTEMPTS = 3;

/**
 * Sends `entries` to one queue with SendMessageBatch, batch after batch so they arrive in order (as far
 * as a standard queue keeps order). Resolves once SQS acknowledged every entry — SQS stores a message
 * redundantly before it answers — and throws naming the first entry it refused.
 */
export async function sendAll(client: SQSClient, queueUrl: string, entries: readonly WireEntry[]): Promise<void> {
  for (const batch of batches(entries)) await sendBatch(client, queueUrl, batch);
}

type Prepared = Omit<SendMessageBatchRequestEntry, 'Id'>;

/** The entries as SendMessageBatch takes them, in batches within its limits (attributes built once per entry). */
function* batches(entries: readonly WireEntry[]): Generator<Prepared[]> {
  let batch: Prepared[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const attributes = toAttributes(entry);
    const size = wireSize(entry.body, attributes);
    if (batch.length && (batch.length === BATCH_ENTRIES || bytes + size > BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push({ MessageBody: entry.body.toString('utf8'), MessageAttributes: attributes });
    bytes += size;
  }
  if (batch.length) yield batch;
}

async function sendBatch(client: SQSClient, queueUrl: string, batch: readonly Prepared[]): Promise<void> {
  let pending: SendMessageBatchRequestEntry[] = batch.map((entry, index) => ({ Id: String(index), ...entry }));
  for (let attempt = 1; pending.length; attempt++) {
    const result = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
    const failed = result.Failed ?? [];
    const refused = failed.find((failure) => failure.SenderFault || attempt >= RESEND_ATTEMPTS);
    if (refused) {
      throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `SQS refused message ${Number(refused.Id) + 1} of a batch to ${queueUrl}: ${refused.Code ?? ''} ${refused.Message ?? ''}`.trim(), {
        details: { queueUrl, code: refused.Code, senderFault: refused.SenderFault },
      });
    }
    const retry = new Set(failed.map((failure) => failure.Id));
    pending = pending.filter((entry) => retry.has(entry.Id));
  }
}
