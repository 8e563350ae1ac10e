import type { Envelope, Headers } from '../envelope/index.js';
import type { RetryPolicy } from '../definitions/index.js';

/**
 * The one interface every broker implements (one file per broker beside this one). An adapter moves
 * bytes and settles deliveries; everything else — decoding, validation, upcasting, dedup, the handler,
 * the retry decision, dead-lettering — is the shared consumer pipeline (runtime/pipeline), so every
 * broker behaves the same and one conformance suite tests them all.
 */
export interface BrokerAdapter {
  /** The broker's name in the definitions. */
  readonly name: string;
  readonly capabilities: BrokerCapabilities;
  /** Connects; throws an EdaflowError naming the server and what failed when it cannot. */
  connect(): Promise<void>;
  /**
   * Creates the topics, queues, dead-letter destinations and consumer groups of `topology` when
   * missing (idempotently). A conflicting existing setting is an EDA_PROVISION_CONFLICT error, never
   * a silent change.
   */
  provision(topology: Topology): Promise<void>;
  /** Publishes in order; resolves once the broker has acknowledged every message (durably). */
  publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void>;
  /**
   * Starts consuming. `deliver` is called for each delivery and must settle it (ack, retry or
   * deadLetter) before it resolves, except where `capabilities.lateAck` allows an ack later. The
   * adapter keeps at most `prefetch` unsettled deliveries, runs up to `concurrency` at once, and never
   * runs two deliveries with the same key at once on a topic.
   */
  subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription>;
  /** Dead-letter operations (`edaflow dlq ...`). */
  readonly deadLetters: DeadLetterOperations;
  /**
   * The group's consumer lag, from the broker's own numbers: messages published to the group's
   * destination that the group has not settled yet. Every broker counts the messages waiting to be
   * delivered and, where it can tell, those delivered but not yet acknowledged (in flight, or waiting
   * for a broker-side retry): Kafka end minus committed offsets, NATS num_pending + num_ack_pending,
   * SQS visible + in flight + delayed, postgres unread rows + queued rows. RabbitMQ reports only the
   * ready messages of the group's queue over AMQP (unacknowledged ones are not counted). A group with no
   * position yet counts what it would read from where it would start. An EdaflowError when the group's
   * destination does not exist on the broker.
   */
  lag(group: GroupSpec): Promise<number>;
  /** Stops every subscription (waiting for in-flight deliveries) and disconnects. */
  close(): Promise<void>;
}

export interface BrokerCapabilities {
  /** Header prefix of CloudEvents attributes in binary mode (`ce_` Kafka, `cloudEvents:` AMQP, `ce-` others). */
  readonly headerPrefix: string;
  /** Publish/subscribe destinations with consumer groups. False for SQS: topics are a validation error there. */
  readonly topics: boolean;
  /** Whether `retry(delay)` is carried out by the broker itself (true) or by holding the message in process. */
  readonly brokerDelayedRetry: boolean;
  /** Whether published and unacknowledged messages survive the consuming (or broker client's) process dying. */
  readonly durable: boolean;
  /**
   * Whether a topic keeps its messages for a group that starts later (`startAt: 'earliest'` reads
   * them). False for RabbitMQ: an exchange keeps nothing, a group's queue has what came since it was bound.
   */
  readonly topicHistory: boolean;
  /**
   * Whether a delivery may be acknowledged after `deliver` resolved: the adapter goes on delivering
   * (the next message of the same key too, within `prefetch`), the position it saves never passes a
   * delivery still unsettled (whatever was settled after it), and a delivery never settled is delivered
   * again once the subscription stops (on NATS at once, or after ack_wait when the handed-back message
   * met the closing pull request). A consumer that commits many messages in one transaction (the
   * stream runner) needs it; without it, one transaction per message.
   */
  readonly lateAck: boolean;
}

export interface DestinationRef {
  readonly kind: 'topic' | 'queue';
  readonly name: string;
}

/** `topic:<name>` or `queue:<name>`: a destination in keys, labels and reports. */
export function destinationLabel(destination: DestinationRef): string {
  return `${destination.kind}:${destination.name}`;
}

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly retentionMs?: number;
}

export interface QueueSpec {
  readonly name: string;
  readonly messageTtlMs?: number;
  /** Where exhausted messages go, or null when dead-lettering is off. */
  readonly deadLetter: string | null;
  /** Attempts before the broker itself would dead-letter (where it enforces a limit). */
  readonly maxDeliveries: number;
}

/** A consumer group on a destination: RabbitMQ needs a queue per group on a topic, NATS a durable consumer. */
export interface GroupSpec {
  readonly destination: DestinationRef;
  readonly group: string;
  /** Dead-letter destination of this group's failures (topics: `<topic>.<group>.dlq` by default). */
  readonly deadLetter: string | null;
  readonly retry: RetryPolicy;
}

export interface Topology {
  readonly topics: readonly TopicSpec[];
  readonly queues: readonly QueueSpec[];
  readonly groups: readonly GroupSpec[];
}

export interface OutgoingMessage {
  readonly envelope: Envelope;
  /** Ordering key (topics): messages with one key are consumed in publish order. */
  readonly key?: string;
}

/**
 * Where a consumer group on a topic starts, on every broker (Kafka's rule, as an experienced Kafka user
 * expects it):
 * - A group keeps its position once it has one; `startAt` never moves it (like `auto.offset.reset`).
 * - `provision` gives every declared group that has no position yet the topic's end as of that moment:
 *   a handler added to a topic that already holds messages does not replay its history, and a group
 *   provisioned with its (new, empty) topic misses none of the topic's messages.
 * - A group that gets to `subscribe` with no position (never provisioned, such as `edaflow tail`'s
 *   throwaway reader) starts at `startAt`: 'earliest' (the default: the oldest retained message) or
 *   'latest' (only messages published after the subscription started).
 * RabbitMQ keeps no history on a topic (a fanout exchange): a group's queue holds what was published
 * since it was bound, so 'earliest' is 'latest' there. Queues have no start position: a queue's
 * messages are for its workers, whenever they come.
 */
export type StartAt = 'earliest' | 'latest';

export interface SubscribeRequest extends GroupSpec {
  readonly concurrency: number;
  readonly prefetch: number;
  /** Where this group starts when it has no position yet (topics only; default 'earliest'). See StartAt. */
  readonly startAt?: StartAt;
  /**
   * A throwaway group (`edaflow tail`): nothing of it is kept. The broker removes its position (and its
   * queue or consumer) when the subscription stops, and where the broker can (RabbitMQ, NATS) when the
   * process dies too. Topics only.
   */
  readonly ephemeral?: boolean;
}

/** Why a message was dead-lettered; travels with it as headers/attributes. */
export interface DeadLetterInfo {
  /** `rejected`: it failed its destination's security or size limit (runtime/security); never handled. */
  readonly reason: 'failed' | 'invalid' | 'malformed' | 'expired' | 'rejected';
  readonly error: string;
  readonly attempts: number;
  readonly origin: DestinationRef;
  readonly group: string;
  readonly failedAt: string;
}

export interface Delivery {
  /** The message as received; the pipeline decodes it with `capabilities.headerPrefix`. */
  readonly headers: Headers;
  readonly body: Buffer;
  /** 1 on first delivery, counted by the broker where it can (so it survives a crash). */
  readonly attempt: number;
  readonly key?: string;
  /**
   * Settles the message as done. The broker may persist the acknowledgement a moment later (Kafka
   * batches offset commits): a crash before that redelivers it, so delivery is at least once.
   */
  ack(): Promise<void>;
  /** Redeliver this message after `delayMs`. */
  retry(delayMs: number): Promise<void>;
  /** Move it to the group's dead-letter destination with `info`, then ack it. */
  deadLetter(info: DeadLetterInfo): Promise<void>;
}

export interface Subscription {
  /** Stops taking new deliveries and waits for the in-flight ones to settle. */
  stop(): Promise<void>;
}

export interface DeadLetter {
  /** Broker-specific id, stable while the message sits in the DLQ. */
  readonly id: string;
  readonly deadLetterDestination: string;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly info: DeadLetterInfo;
}

export interface DeadLetterOperations {
  list(deadLetterDestination: string, options?: { limit?: number }): Promise<DeadLetter[]>;
  /** Count of messages waiting (for `alertAbove` and metrics). */
  count(deadLetterDestination: string): Promise<number>;
  /** Republishes the message to its origin and removes it from the DLQ. */
  retry(deadLetterDestination: string, id: string): Promise<void>;
  retryAll(deadLetterDestination: string): Promise<number>;
  purge(deadLetterDestination: string, options?: { olderThanMs?: number }): Promise<number>;
}
