import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, JetStreamApiCodes, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Subscription as NatsSub, type TlsOptions } from '@nats-io/transport-node';
import { encodeBinary } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { BrokerConfig } from '../definitions/index.js';
import type { Logger } from '../observability/logger.js';
import type { BrokerAdapter, DeadLetterInfo, DeadLetterOperations, Delivery, DestinationRef, GroupSpec, OutgoingMessage, StartAt, SubscribeRequest, Subscription, Topology } from './adapter.js';
import { deadLetterHeaders } from './dead-letter.js';
import type { BrokerModule } from './index.js';
import { natsDeadLetterOperations } from './nats/dead-letters.js';
import { groupLag } from './nats/lag.js';
import { addEphemeralConsumer, consumerName, ensureConsumer, ensureStream, isNotFound, topologyStreams } from './nats/provision.js';
import { JetStreamPublisher, type StreamMessage } from './nats/publisher.js';
import { NatsSubscription } from './nats/subscription.js';
import { asUnavailable, destinationStream, fromNatsHeaders, KEY_HEADER, streamName, subject } from './nats/wire.js';
import { OpenSubscriptions } from './subscriptions.js';

type NatsConfig = Extract<BrokerConfig, { type: 'nats' }>;
interface Connection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly publisher: JetStreamPublisher;
}

const HEADER_PREFIX = 'ce-';
/** How long a publish keeps retrying through an outage (the client reconnects meanwhile) before it fails. */
const PUBLISH_DEADLINE_MS = 30_000;
const PUBLISH_ACK_TIMEOUT_MS = 5_000;
const MAX_DELIVERIES_ADVISORY = '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * NATS JetStream (server 2.9+; no 2.10-only features). A topic is a stream with limits retention and
 * each group a durable pull consumer; a queue is a work-queue stream with one shared durable consumer;
 * a dead-letter destination is a stream of its own. Retries are the server's (`nak(delay)`), attempts
 * its delivery count, so both survive a crash of this process. Partitions have no NATS counterpart:
 * per-key order comes from one consumer per group and keyed lanes.
 */
export class NatsBroker implements BrokerAdapter {
  readonly capabilities = { headerPrefix: HEADER_PREFIX, topics: true, brokerDelayedRetry: true, durable: true, topicHistory: true, lateAck: true } as const;
  readonly deadLetters: DeadLetterOperations;
  private connection: Connection | undefined;
  private readonly subscriptions = new OpenSubscriptions();
  private advisories: NatsSub | undefined;

  constructor(readonly name: string, private readonly config: NatsConfig, private readonly logger: Logger) {
    this.deadLetters = natsDeadLetterOperations(() => this.connected().jsm, (stream, messages) => this.publishDurably(stream, messages), name);
  }

  async connect(): Promise<void> {
    if (this.connection) return;
    const servers = [...this.config.servers];
    try {
      const nc = await connect({
        servers,
        name: `edaflow-${this.name}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // Without it every request (one per published message) captures two stack traces up front in
        // case it fails: about a tenth of the client's CPU per message. Our own errors say which
        // operation failed (asUnavailable, publishDurably).
        noAsyncTraces: true,
        ...(this.config.user !== undefined ? { user: this.config.user, pass: this.config.pass ?? '' } : {}),
        ...(this.config.token !== undefined ? { token: this.config.token } : {}),
        ...tlsOptions(this.config.tls),
      });
      this.connection = { nc, js: jetstream(nc, { timeout: PUBLISH_ACK_TIMEOUT_MS }), jsm: await jetstreamManager(nc), publisher: new JetStreamPublisher(nc) };
    } catch (error) {
      throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `cannot connect broker ${this.name} to NATS ${servers.join(', ')}: ${(error as Error).message}`, { cause: error });
    }
    this.watch(this.connection.nc);
  }

  /** Logs connection changes, and the server giving up on a message (a safety net: the pipeline dead-letters first). */
  private watch(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type !== 'reconnecting' && status.type !== 'ping') this.logger.info({ broker: this.name, status: status.type }, 'NATS connection status');
      }
    })().catch(() => undefined);
    this.advisories = nc.subscribe(MAX_DELIVERIES_ADVISORY, {
      callback: (_error, message) => this.logger.warn({ broker: this.name, advisory: message.string() }, 'NATS gave up on a message after max_deliver; it stays unacknowledged in its stream'),
    });
  }

  async provision(topology: Topology): Promise<void> {
    const { jsm } = this.connected();
    try {
      for (const stream of topologyStreams(topology)) await ensureStream(jsm, stream);
      // A new group starts at its topic's end as of now; an existing one keeps its position (StartAt).
      for (const group of topology.groups) await ensureConsumer(jsm, group, 'latest');
    } catch (error) {
      throw asUnavailable(error, `provisioning of broker ${this.name}`);
    }
  }

  async publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    // One id per message of this call, reused by this call's own re-sends only: the server drops a
    // copy re-sent after a lost ack, while a deliberate republish (a retried dead letter) still lands.
    const call = randomUUID();
    const outgoing = messages.map((message, index): StreamMessage => {
      const wire = encodeBinary(message.envelope, HEADER_PREFIX);
      const headers = message.key !== undefined ? { ...wire.headers, [KEY_HEADER]: message.key } : wire.headers;
      return { subject: subject(destination.kind, destination.name), headers, body: wire.body, msgId: `${call}.${index}` };
    });
    await this.publishDurably(destinationStream(destination), outgoing);
  }

  /**
   * Publishes asynchronously (pipelined, in order) and resolves once the stream acknowledged every
   * message. After a failure it re-sends from the first unacknowledged message on: the ids make the
   * server drop what it already stored, so order holds and nothing is stored twice.
   */
  private async publishDurably(stream: string, messages: readonly StreamMessage[]): Promise<void> {
    const deadline = Date.now() + PUBLISH_DEADLINE_MS;
    for (let from = 0, failures = 0; from < messages.length; ) {
      const unacknowledged = await this.connected().publisher.publish(stream, messages.slice(from), PUBLISH_ACK_TIMEOUT_MS);
      if (!unacknowledged) return;
      from += unacknowledged.index;
      const { error } = unacknowledged;
      if (!unacknowledged.retriable) throw error;
      if (await this.streamMissing(stream)) throw new EdaflowError('EDA_UNKNOWN_TYPE', `NATS stream ${stream} is not provisioned on broker ${this.name}`, { cause: error });
      if (Date.now() >= deadline) throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `NATS did not acknowledge a publish to ${stream} within ${PUBLISH_DEADLINE_MS} ms: ${error.message}`, { cause: error });
      this.logger.warn({ broker: this.name, stream, error: error.message }, 'NATS publish not acknowledged; re-sending');
      await sleep(Math.min(2_000, 100 * 2 ** ++failures));
    }
  }

  private async streamMissing(stream: string): Promise<boolean> {
    try {
      await this.connected().jsm.streams.info(stream);
      return false;
    } catch (error) {
      return isNotFound(error, JetStreamApiCodes.StreamNotFound);
    }
  }

  async subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription> {
    const startAt = request.startAt ?? 'earliest';
    const consumer = { name: consumerName(request) };
    // A throwaway group gets a server-named consumer of its own, re-created (from now) if it vanished.
    const ensure = request.ephemeral && request.destination.kind === 'topic'
      ? async (from: StartAt) => void (consumer.name = await addEphemeralConsumer(this.connected().jsm, request, from))
      : async (from: StartAt) => ensureConsumer(this.connected().jsm, request, from);
    await ensure(startAt).catch((error: unknown) => {
      throw asUnavailable(error, `the consumer of group ${request.group}`);
    });
    const subscription = new NatsSubscription({
      js: this.connected().js, logger: this.logger, request, deliver,
      consumer: () => consumer.name,
      deadLetter: (message, info) => this.moveToDeadLetter(request.deadLetter, message, info),
      ensureConsumer: () => ensure(request.ephemeral ? 'latest' : startAt),
    });
    return this.subscriptions.track(async () => {
      await subscription.stop();
      if (request.ephemeral) await this.connected().jsm.consumers.delete(destinationStream(request.destination), consumer.name).catch(() => undefined);
    });
  }

  /** A copy with the failure's metadata, acknowledged by the dead-letter stream before the original is acked. */
  private async moveToDeadLetter(deadLetter: string | null, message: JsMsg, info: DeadLetterInfo): Promise<void> {
    if (deadLetter === null) return;
    const headers = { ...fromNatsHeaders(message.headers), ...deadLetterHeaders(info) };
    // Stable per original message: dead-lettering it again after a crash adds no second copy.
    const msgId = `dlq.${message.info.stream}.${message.info.consumer}.${message.info.streamSequence}`;
    await this.publishDurably(streamName('dlq', deadLetter), [{ subject: subject('dlq', deadLetter), headers, body: message.data, msgId }]);
  }

  lag(group: GroupSpec): Promise<number> {
    return groupLag(this.connected().jsm, this.name, group);
  }

  async close(): Promise<void> {
    await this.subscriptions.stopAll();
    const connection = this.connection;
    this.connection = undefined;
    this.advisories?.unsubscribe();
    if (!connection) return;
    // Publishes still awaiting their acknowledgement get it (or their timeout) before the drain closes the reply subscription.
    await connection.publisher.settled();
    await connection.nc.drain().catch(() => connection.nc.close());
    connection.publisher.close();
  }

  private connected(): Connection {
    if (!this.connection) throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `broker ${this.name} is not connected (call connect() first)`);
    return this.connection;
  }
}

/** `tls: true` uses the system's trust store; an object passes certificate files and options through. */
function tlsOptions(tls: unknown): { tls?: TlsOptions } {
  if (tls === true) return { tls: {} };
  if (tls && typeof tls === 'object') return { tls: tls as TlsOptions };
  return {};
}

export const createAdapter: BrokerModule<'nats'>['createAdapter'] = (name, config, dependencies) => new NatsBroker(name, config, dependencies.logger);
