import { randomUUID } from 'node:crypto';
import { encodeBinary } from '../envelope/index.js';
import type { Logger } from '../observability/logger.js';
import type { BrokerAdapter, DeadLetterOperations, Delivery, DestinationRef, GroupSpec, OutgoingMessage, SubscribeRequest, Subscription, Topology } from './adapter.js';
import type { BrokerModule } from './index.js';
import { RabbitConnection, type RabbitConfig } from './rabbitmq/connection.js';
import { RabbitSubscription } from './rabbitmq/consumer.js';
import { createDeadLetterOperations } from './rabbitmq/dead-letters.js';
import { groupLag } from './rabbitmq/lag.js';
import { declareThrowawayGroup, deleteThrowawayGroup, provisionTopology } from './rabbitmq/provision.js';
import { ConfirmPublisher, type Outgoing } from './rabbitmq/publisher.js';
import { HEADER_PREFIX, KEY_HEADER, publishOptions } from './rabbitmq/wire.js';
import { OpenSubscriptions } from './subscriptions.js';

/**
 * RabbitMQ (AMQP 0-9-1). A topic is a durable fanout exchange (named `<exchange prefix><topic>`); each
 * consumer group reads its own durable quorum queue `<topic>.<group>` bound to it; a queue is a durable
 * quorum queue. Retries wait in per-origin retry queues (per-message TTL, dead-lettered back by the
 * broker); dead letters go to quorum queues with publisher confirms. See ./rabbitmq/ for each concern.
 */
export class RabbitBroker implements BrokerAdapter {
  readonly capabilities = { headerPrefix: HEADER_PREFIX, topics: true, brokerDelayedRetry: true, durable: true, topicHistory: false, lateAck: true } as const;
  readonly deadLetters: DeadLetterOperations;
  private readonly connection: RabbitConnection;
  private readonly publisher: ConfirmPublisher;
  private readonly subscriptions = new OpenSubscriptions();

  constructor(readonly name: string, private readonly config: RabbitConfig, private readonly logger: Logger) {
    this.connection = new RabbitConnection(name, config, logger);
    this.publisher = new ConfirmPublisher(this.connection);
    this.deadLetters = createDeadLetterOperations(this.connection, this.publisher);
  }

  connect(): Promise<void> {
    return this.connection.connect();
  }

  provision(topology: Topology): Promise<void> {
    return provisionTopology(this.connection, (topic) => this.exchange(topic), topology);
  }

  async publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    await this.publisher.send(messages.map((message) => this.outgoing(destination, message)));
  }

  async subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription> {
    // A group's queue holds what was published since it was bound, so `startAt` changes nothing here.
    const throwaway = request.ephemeral === true && request.destination.kind === 'topic';
    if (throwaway) await declareThrowawayGroup(this.connection, this.exchange(request.destination.name), request);
    const subscription = new RabbitSubscription({ connection: this.connection, publisher: this.publisher, logger: this.logger }, request, deliver);
    await subscription.start();
    return this.subscriptions.track(async () => {
      await subscription.stop();
      if (throwaway) await deleteThrowawayGroup(this.connection, request).catch(() => undefined);
    });
  }

  lag(group: GroupSpec): Promise<number> {
    return groupLag(this.connection, group);
  }

  async close(): Promise<void> {
    await this.subscriptions.stopAll();
    await this.publisher.close();
    await this.connection.close();
  }

  /** The `exchange` setting is a prefix of every topic's exchange name. */
  private exchange(topic: string): string {
    return `${this.config.exchange ?? ''}${topic}`;
  }

  /** A topic message goes to its exchange; a queue message straight to the queue (mandatory: it must exist). */
  private outgoing(destination: DestinationRef, message: OutgoingMessage): Outgoing {
    const wire = encodeBinary(message.envelope, HEADER_PREFIX);
    const headers = message.key !== undefined ? { ...wire.headers, [KEY_HEADER]: message.key } : wire.headers;
    const options = publishOptions(headers, randomUUID());
    return destination.kind === 'topic'
      // The key travels as a header: a fanout exchange ignores routing keys, which are limited to 255 bytes.
      ? { exchange: this.exchange(destination.name), routingKey: '', content: wire.body, options }
      : { exchange: '', routingKey: destination.name, content: wire.body, options: { ...options, mandatory: true } };
  }
}

export const createAdapter: BrokerModule<'rabbitmq'>['createAdapter'] = (name, config, dependencies) => new RabbitBroker(name, config, dependencies.logger);
