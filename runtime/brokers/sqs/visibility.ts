import { ChangeMessageVisibilityBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * Sets the visibility of received messages, 10 per call (the batch limit). Entries SQS reports as
 * failed are left alone: their receipt is stale because the message was meanwhile deleted or received
 * again, and either way it is no longer ours to extend or give back.
 */
export async function changeVisibility(client: SQSClient, queueUrl: string, receipts: readonly string[], seconds: number): Promise<void> {
  for (let start = 0; start < receipts.length; start += 10) {
    const entries = receipts.slice(start, start + 10).map((receipt, index) => ({ Id: String(index), ReceiptHandle: receipt, VisibilityTimeout: seconds }));
    await client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  }
}
