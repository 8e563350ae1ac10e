import { createHash } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, type QueueAttributeName, type SQSClient } from '@aws-sdk/client-sqs';
import { EdaflowError } from '../../errors/index.js';
import type { QueueSpec, Topology } from '../adapter.js';

/** Dead letters stay as long as SQS allows (14 days): a DLQ must outlive its source's retention. */
const DEAD_LETTER_RETENTION_SECONDS = String(14 * 24 * 3600);
/**
 * Receives beyond the pipeline's attempts before the server-side RedrivePolicy moves a message by
 * itself. The pipeline dead-letters (with metadata) at `maxDeliveries`; the redrive is only the safety
 * net for a message whose consumer keeps crashing before it can settle, and a margin keeps the two from
 * racing (a prefetched message released at shutdown also counts as a receive).
 */
export const REDRIVE_MARGIN = 3;

/**
 * SQS queue names allow only letters, digits, `-` and `_` (80 at most), but edaflow names its dead-letter
 * queues `<queue>.dlq`. Other characters become `_`, and an over-long name is cut and suffixed with a
 * hash so distinct names stay distinct. Idempotent: a physical name maps to itself.
 */
export function physicalName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]/g, '_');
  if (safe.length <= 80) return safe;
  return `${safe.slice(0, 71)}-${createHash('sha1').update(name).digest('hex').slice(0, 8)}`;
}

/** Queue URLs by edaflow name, and provisioning. */
export class Queues {
  private readonly urls = new Map<string, string>();

  constructor(private readonly client: SQSClient, private readonly broker: string) {}

  async url(name: string): Promise<string> {
    const known = this.urls.get(name) ?? (await this.find(name));
    if (!known) throw new EdaflowError('EDA_UNKNOWN_QUEUE', `queue ${name} (${physicalName(name)}) does not exist on broker ${this.broker}; it is created when the definitions are provisioned`);
    return known;
  }

  async provision(topology: Topology): Promise<void> {
    const topic = topology.topics[0]?.name ?? topology.groups.find((group) => group.destination.kind === 'topic')?.destination.name;
    if (topic !== undefined) throw topicRefused(this.broker, topic);
    // Dead-letter queues first: a RedrivePolicy names its target's ARN.
    const deadLetters = new Set([...topology.queues.map((queue) => queue.deadLetter), ...topology.groups.map((group) => group.deadLetter)]);
    for (const name of deadLetters) if (name !== null) await this.ensure(name, { MessageRetentionPeriod: DEAD_LETTER_RETENTION_SECONDS }, []);
    for (const queue of topology.queues) {
      const declared = await this.declaredAttributes(queue);
      await this.ensure(queue.name, declared, Object.keys(declared) as QueueAttributeName[]);
    }
  }

  async attributes(name: string, names: QueueAttributeName[]): Promise<Partial<Record<string, string>>> {
    const result = await this.client.send(new GetQueueAttributesCommand({ QueueUrl: await this.url(name), AttributeNames: names }));
    return result.Attributes ?? {};
  }

  private async declaredAttributes(queue: QueueSpec): Promise<Partial<Record<QueueAttributeName, string>>> {
    const declared: Partial<Record<QueueAttributeName, string>> = {};
    if (queue.messageTtlMs !== undefined) declared.MessageRetentionPeriod = String(Math.ceil(queue.messageTtlMs / 1000));
    if (queue.deadLetter !== null) {
      const target = (await this.attributes(queue.deadLetter, ['QueueArn']))['QueueArn'];
      declared.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: target, maxReceiveCount: queue.maxDeliveries + REDRIVE_MARGIN });
    }
    return declared;
  }

  /**
   * Creates the queue when missing; otherwise compares the `checked` settings with what the server
   * reports. A setting the server does not report (ElasticMQ omits MessageRetentionPeriod) cannot be
   * compared; a missing RedrivePolicy is a conflict, since the safety net would be absent.
   */
  private async ensure(name: string, attributes: Partial<Record<QueueAttributeName, string>>, checked: readonly QueueAttributeName[]): Promise<void> {
    if (!(await this.find(name))) {
      try {
        const created = await this.client.send(new CreateQueueCommand({ QueueName: physicalName(name), Attributes: attributes }));
        this.urls.set(name, created.QueueUrl!);
        return;
      } catch (error) {
        // Created meanwhile by another process with other settings: compare below.
        if ((error as { name?: string }).name !== 'QueueNameExists' || !(await this.find(name))) throw error;
      }
    }
    if (!checked.length) return;
    const existing = await this.attributes(name, [...checked]);
    for (const setting of checked) {
      const declared = attributes[setting];
      const actual = existing[setting];
      if (actual === undefined && setting !== 'RedrivePolicy') continue;
      if (declared !== undefined && !sameSetting(setting, declared, actual)) {
        throw new EdaflowError('EDA_PROVISION_CONFLICT', `queue ${name} on broker ${this.broker} exists with ${setting} ${actual ?? '(none)'}, but the definitions declare ${declared}`, {
          details: { queue: name, setting, declared, existing: actual ?? null },
        });
      }
    }
  }

  private async find(name: string): Promise<string | undefined> {
    try {
      const result = await this.client.send(new GetQueueUrlCommand({ QueueName: physicalName(name) }));
      if (result.QueueUrl) this.urls.set(name, result.QueueUrl);
      return result.QueueUrl;
    } catch (error) {
      if ((error as { name?: string }).name === 'QueueDoesNotExist' || (error as { name?: string }).name === 'AWS.SimpleQueueService.NonExistentQueue') return undefined;
      throw error;
    }
  }
}

function sameSetting(setting: QueueAttributeName, declared: string, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  if (setting !== 'RedrivePolicy') return declared === actual;
  const a = JSON.parse(declared) as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
  const b = JSON.parse(actual) as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
  return a.deadLetterTargetArn === b.deadLetterTargetArn && Number(a.maxReceiveCount) === Number(b.maxReceiveCount);
}

export function topicRefused(broker: string, topic: string): EdaflowError {
  return new EdaflowError('EDA_TOPIC_ON_SQS', `topic ${topic} cannot live on SQS broker ${broker}: SQS has no publish/subscribe; declare a queue instead`);
}
