import kafkajs, { type Admin, type Message, type Producer } from 'kafkajs';
import { parseDuration } from '../definitions/index.js';
import { encodeBinary } from '../envelope/index.js';
import type { Logger } from '../observability/logger.js';
import type { BrokerAdapter, DeadLetterOperations, Delivery, DestinationRef, GroupSpec, OutgoingMessage, SubscribeRequest, Subscription, Topology } from './adapter.js';
import type { BrokerModule } from './index.js';
import { brokerError, createKafka, DEFAULT_OPTIONS, groupIdOf, HEADER_PREFIX, record, type KafkaAdapterOptions, type KafkaBrokerConfig, type KafkaContext } from './kafka/client.js';
import { createDeadLetterOperations } from './kafka/dead-letters.js';
import { groupLag } from './kafka/lag.js';
import { provision } from './kafka/provision.js';
import { KafkaSubscription } from './kafka/subscription.js';
import { OpenSubscriptions } from './subscriptions.js';

export type { KafkaAdapterOptions } from './kafka/client.js';

const { Partitioners } = kafkajs;

/**
 * Kafka through kafkajs. Topics are Kafka topics, consumer groups are Kafka consumer groups, a queue
 * is a topic with one consumer group (its partitions shared by the competing consumers), and retries
 * wait in process (Kafka has no delayed redelivery). See ./kafka/ for each part.
 */
export class KafkaBroker implements BrokerAdapter {
  readonly capabilities = { headerPrefix: HEADER_PREFIX, topics: true, brokerDelayedRetry: false, durable: true, topicHistory: true, lateAck: true } as const;
  readonly deadLetters: DeadLetterOperations;
  private readonly context: KafkaContext;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly subscriptions = new OpenSubscriptions();

  constructor(readonly name: string, private readonly config: KafkaBrokerConfig, logger: Logger, options: KafkaAdapterOptions = {}) {
    const kafka = createKafka(name, config, logger);
    this.admin = kafka.admin();
    // One producer for every publish, dead letter and retry. The murmur2 partitioner named explicitly
    // (Java's, so keys land on the partitions Java clients pick) also keeps kafkajs from warning.
    // Topics come from provisioning only: a typo must not auto-create a one-partition topic.
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    this.context = { name, kafka, admin: this.admin, logger, options: { ...DEFAULT_OPTIONS, ...options }, send: (topic, messages) => this.send(topic, messages) };
    this.deadLetters = createDeadLetterOperations(this.context);
  }

  async connect(): Promise<void> {
    try {
      await this.admin.connect();
      await this.producer.connect();
    } catch (error) {
      throw brokerError(this.name, `connecting to ${this.config.brokers.join(', ')}`, error);
    }
  }

  provision(topology: Topology): Promise<void> {
    return provision(this.context, topology);
  }

  /** One produce call: kafkajs sends each partition's messages as one batch, in order. */
  async publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    await this.send(destination.name, messages.map((message) => {
      const wire = encodeBinary(message.envelope, HEADER_PREFIX);
      return record(wire.headers, wire.body, message.key);
    }));
  }

  async subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription> {
    const subscription = new KafkaSubscription(this.context, request, deliver);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.stop().catch(() => undefined);
      throw brokerError(this.name, `subscribing ${request.group} to ${request.destination.name}`, error);
    }
    return this.subscriptions.track(async () => {
      await subscription.stop();
      // A throwaway group (`edaflow tail`) leaves no committed offsets behind once its member has left.
      if (request.ephemeral) await this.admin.deleteGroups([groupIdOf(request.destination, request.group)]).catch(() => undefined);
    });
  }

  lag(group: GroupSpec): Promise<number> {
    return groupLag(this.context, group);
  }

  async close(): Promise<void> {
    await this.subscriptions.stopAll();
    await this.producer.disconnect();
    await this.admin.disconnect();
  }

  /** acks = -1: resolves once every in-sync replica has the messages. */
  private async send(topic: string, messages: Message[]): Promise<void> {
    if (!messages.length) return;
    try {
      await this.producer.send({ topic, acks: -1, messages });
    } catch (error) {
      throw brokerError(this.name, `publishing to ${topic}`, error);
    }
  }
}

export const createAdapter: BrokerModule<'kafka'>['createAdapter'] = (name, config, dependencies) => new KafkaBroker(name, config, dependencies.logger, fetchOptions(config));

/** The broker's `fetch` settings as adapter options (unset ones keep the defaults). */
function fetchOptions(config: KafkaBrokerConfig): KafkaAdapterOptions {
  const { minBytes, maxWait } = config.fetch ?? {};
  return { ...(minBytes !== undefined ? { minBytes } : {}), ...(maxWait !== undefined ? { maxWaitTimeMs: parseDuration(maxWait) } : {}) };
}
