/**
 * Raw SQS baseline (@aws-sdk/client-sqs against ElasticMQ): SendMessageBatch in tens (as the adapter's
 * sendAll), a ReceiveMessage loop of up to 10 while fewer than `prefetch` are held (1 s long poll,
 * 30 s visibility, as configured for the adapter here), JSON.parse (a synchronous handler: `concurrency`
 * has nothing to bound), and acks as the adapter's, with its BatchedAcks: the slot is freed at once and
 * the receipts acked meanwhile are deleted together, by DeleteMessageBatch of up to 10, 5 at a time.
 */
import { CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, GetQueueUrlCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchedAcks } from '../../dist/runtime/brokers/batched-acks.js';
import { HEADER_PREFIX, toAttributes } from '../../dist/runtime/brokers/sqs/wire.js';
import { Acks, type Timing, chunks, rawMessages, Wake, type Workload } from './common.js';

export const SQS_ENDPOINT = process.env['EDAFLOW_SQS_ENDPOINT'] ?? 'http://127.0.0.1:9324';

export function sqsClient(): SQSClient {
  return new SQSClient({ region: 'us-east-1', endpoint: SQS_ENDPOINT, credentials: { accessKeyId: 'edaflow', secretAccessKey: 'edaflow' } });
}

export async function raw(workload: Workload): Promise<Timing> {
  const client = sqsClient();
  const queueName = workload.name.replace(/[^A-Za-z0-9_-]/g, '_');
  try {
    const { QueueUrl: url } = await client.send(new CreateQueueCommand({ QueueName: queueName }));
    const acks = new Acks(workload.messages, `sqs raw ${queueName}`, workload.timeoutMs);
    const freed = new Wake();
    let held = 0;
    let running = true;
    const deletes = new BatchedAcks<string>({
      write: async (receipts) => void (await client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: receipts.map((receipt, i) => ({ Id: String(i), ReceiptHandle: receipt })) }))),
      chunk: 10,
      parallel: 5,
      onError: (error) => process.stderr.write(`\nraw delete failed: ${(error as Error).message}\n`),
    });
    const consuming = (async () => {
      while (running) {
        const room = Math.min(10, workload.prefetch - held);
        if (room <= 0) {
          await freed.wait(1_000);
          continue;
        }
        const { Messages = [] } = await client.send(new ReceiveMessageCommand({
          QueueUrl: url, MaxNumberOfMessages: room, WaitTimeSeconds: 1, VisibilityTimeout: 30,
          // The same message is read with its attributes, the CloudEvents headers.
          ...(workload.cloudEvents ? { MessageAttributeNames: ['All'] } : {}),
        }));
        held += Messages.length;
        for (const message of Messages) {
          JSON.parse(message.Body ?? '');
          deletes.ack(message.ReceiptHandle!);
          held--;
          freed.wake();
          acks.ack();
        }
      }
    })();
    // The same message: the CloudEvents headers as the adapter's message attributes.
    const batches = chunks(rawMessages(workload, HEADER_PREFIX).map(({ body, headers }) => ({
      MessageBody: body.toString('utf8'), ...(headers ? { MessageAttributes: toAttributes({ headers, body }) } : {}),
    })), workload.batch);
    acks.start();
    for (const batch of batches) {
      for (const ten of chunks(batch, 10)) {
        const result = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: ten.map((entry, i) => ({ Id: String(i), ...entry })) }));
        if (result.Failed?.length) throw new Error(`SQS refused ${result.Failed.length} messages: ${result.Failed[0]!.Message}`);
      }
    }
    acks.published();
    const timing = await acks.done.finally(() => (running = false));
    await consuming;
    await deletes.flushed();
    await client.send(new DeleteQueueCommand({ QueueUrl: url }));
    return timing;
  } finally {
    client.destroy();
  }
}

/** Deletes queues (by physical name) the edaflow side provisioned. */
export async function dropQueues(names: readonly string[]): Promise<void> {
  const client = sqsClient();
  try {
    for (const name of names) {
      const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: name })).catch(() => ({ QueueUrl: undefined }));
      if (QueueUrl) await client.send(new DeleteQueueCommand({ QueueUrl }));
    }
  } finally {
    client.destroy();
  }
}
