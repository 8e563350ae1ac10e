import { ListQueuesCommand, SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import type { BrokerConfig } from '../definitions/index.js';
import { encodeBinary } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';
import type { BrokerAdapter, DeadLetterOperations, Delivery, DestinationRef, GroupSpec, OutgoingMessage, SubscribeRequest, Subscription, Topology } from './adapter.js';
import type { BrokerDependencies, BrokerModule } from './index.js';
import { QueueConsumer, type ConsumerSettings } from './sqs/consumer.js';
import { sqsDeadLetterOperations } from './sqs/dead-letters.js';
import { groupLag } from './sqs/lag.js';
import { Queues, topicRefused } from './sqs/queues.js';
import { sendAll } from './sqs/send.js';
import { HEADER_PREFIX } from './sqs/wire.js';
import { OpenSubscriptions } from './subscriptions.js';

export type SqsConfig = Extract<BrokerConfig, { type: 'sqs' }>;

/** Production defaults: a 10 s long poll bounds how long a graceful stop waits for the poll in flight. */
const DEFAULT_SETTINGS: ConsumerSettings = { waitTimeSeconds: 10, leaseSeconds: 30 };

/**
 * Amazon SQS (or ElasticMQ / LocalStack through `endpoint`). Queues only: SQS has no publish/subscribe,
 * so topics are refused with EDA_TOPIC_ON_SQS (validation already rejects them in definitions).
 * Retry is ChangeMessageVisibility, the attempt is ApproximateReceiveCount, and a RedrivePolicy to the
 * dead-letter queue is the server-side safety net behind the pipeline's own dead-lettering.
 */
export class SqsBroker implements BrokerAdapter {
  readonly capabilities = { headerPrefix: HEADER_PREFIX, topics: false, brokerDelayedRetry: true, durable: true, topicHistory: true, lateAck: false } as const;
  readonly deadLetters: DeadLetterOperations;
  private readonly client: SQSClient;
  private readonly queues: Queues;
  private readonly logger: Logger;
  private readonly settings: ConsumerSettings;
  private readonly subscriptions = new OpenSubscriptions();

  constructor(readonly name: string, private readonly config: SqsConfig, dependencies: BrokerDependencies, settings: Partial<ConsumerSettings> = {}) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    this.logger = dependencies.logger.child({ broker: name });
    this.client = new SQSClient(clientConfig(name, config, this.settings));
    this.queues = new Queues(this.client, name);
    this.deadLetters = sqsDeadLetterOperations(this.client, this.queues, name);
  }

  async connect(): Promise<void> {
    try {
      await this.client.send(new ListQueuesCommand({ MaxResults: 1 }));
    } catch (error) {
      // Credentials scoped to edaflow's queues may not list queues; an answer still proves the broker is there.
      if (/^AccessDenied/.test((error as { name?: string }).name ?? '')) return;
      throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `cannot reach SQS broker ${this.name} at ${this.config.endpoint ?? `region ${this.config.region}`}: ${(error as Error).message}`, { cause: error });
    }
  }

  async provision(topology: Topology): Promise<void> {
    await this.queues.provision(topology);
  }

  async publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    if (destination.kind === 'topic') throw topicRefused(this.name, destination.name);
    const url = await this.queues.url(destination.name);
    await sendAll(this.client, url, messages.map((message) => ({ ...encodeBinary(message.envelope, HEADER_PREFIX), key: message.key })));
  }

  async subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription> {
    if (request.destination.kind === 'topic') throw topicRefused(this.name, request.destination.name);
    // `startAt` and `ephemeral` concern topics only: a queue's messages are its workers', whenever they come.
    const consumer = new QueueConsumer(
      {
        client: this.client,
        logger: this.logger.child({ queue: request.destination.name, group: request.group }),
        settings: this.settings,
        queueUrl: await this.queues.url(request.destination.name),
        deadLetterUrl: request.deadLetter === null ? null : await this.queues.url(request.deadLetter),
      },
      request,
      deliver,
    );
    return this.subscriptions.track(() => consumer.stop());
  }

  lag(group: GroupSpec): Promise<number> {
    return groupLag(this.queues, this.name, group);
  }

  async close(): Promise<void> {
    await this.subscriptions.stopAll();
    this.client.destroy();
  }
}

/**
 * Credentials: the declared pair, else — with a custom endpoint (ElasticMQ, LocalStack), which accepts
 * any — a dummy pair, else the AWS default chain (environment, profile, web identity, instance role).
 * TLS is the endpoint's scheme (https by default); the client id is the user agent suffix.
 */
function clientConfig(name: string, config: SqsConfig, settings: ConsumerSettings): SQSClientConfig {
  const credentials = config.accessKeyId && config.secretAccessKey
    ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
    : config.endpoint ? { accessKeyId: 'edaflow', secretAccessKey: 'edaflow' } : undefined;
  return {
    region: config.region,
    // With an explicit endpoint, requests go there even though queue URLs may name another host.
    ...(config.endpoint ? { endpoint: config.endpoint, useQueueUrlAsEndpoint: false } : {}),
    ...(credentials ? { credentials } : {}),
    customUserAgent: `edaflow/${name}`,
    // A request may not hang forever on a half-open connection; a long poll needs its wait plus a margin.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: (settings.waitTimeSeconds + 20) * 1000 },
  };
}

export const createAdapter: BrokerModule<'sqs'>['createAdapter'] = (name, config, dependencies) => new SqsBroker(name, config, dependencies);
