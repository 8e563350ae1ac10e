import type { BrokerAdapter, DestinationRef, OutgoingMessage } from '../brokers/adapter.js';
import { evaluateExpression } from '../core/expressions.js';
import type { Definitions } from '../definitions/index.js';
import { causedBy, createEnvelope, type Envelope, type EnvelopeOptions } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import { inProcessSpan, publishSpan, traceparentFor } from '../tracing/index.js';
import type { MessagingPlan } from './topology.js';

export interface PublishOptions {
  readonly id?: string;
  readonly subject?: string;
  readonly time?: string;
  readonly correlationId?: string;
  /** The message being handled: its correlation id carries over and it becomes the causation. */
  readonly cause?: Envelope;
  /** W3C traceparent to continue (an HTTP caller's) when no span is active. */
  readonly traceparent?: string;
}

/** Where a validated message goes: its destination, that destination's broker, and the message with its ordering key. */
export interface Route {
  readonly broker: BrokerAdapter;
  readonly destination: DestinationRef;
  readonly message: OutgoingMessage;
}

/** Handles a command that travels over no queue, in this process. */
export type InProcessDispatch = (envelope: Envelope) => Promise<void>;

/**
 * The one way messages leave edaflow (HTTP, CLI, handlers, sagas): validates the data against the
 * latest schema (an invalid payload is refused and nothing is sent), wraps it in a CloudEvent with the
 * propagated correlation, and hands it to the broker of its destination with its ordering key.
 */
export class Publisher {
  private dispatchInProcess: InProcessDispatch | undefined;

  constructor(
    private readonly definitions: Definitions,
    private readonly catalog: MessageCatalog,
    private readonly plan: MessagingPlan,
    private readonly brokers: ReadonlyMap<string, BrokerAdapter>,
  ) {}

  /** Where commands without a queue go (the handler runner registers itself). */
  onInProcess(dispatch: InProcessDispatch): void {
    this.dispatchInProcess = dispatch;
  }

  async publish(type: string, data: unknown, options: PublishOptions = {}): Promise<Envelope> {
    if (this.catalog.kind(type) !== 'event') throw new EdaflowError('EDA_UNKNOWN_TYPE', `"${type}" is not an event`);
    return this.deliver(this.envelopeOf(type, data, options));
  }

  async send(type: string, data: unknown, options: PublishOptions = {}): Promise<Envelope> {
    if (this.catalog.kind(type) !== 'command') throw new EdaflowError('EDA_UNKNOWN_TYPE', `"${type}" is not a command`);
    return this.deliver(this.envelopeOf(type, data, options));
  }

  /** Sends an envelope that already exists (a replay, a dead letter, the outbox), after validating it. */
  async deliver(envelope: Envelope): Promise<Envelope> {
    const route = await this.route(envelope);
    if (!route) {
      if (!this.dispatchInProcess) throw new EdaflowError('EDA_UNKNOWN_TYPE', `nothing handles ${envelope.type} in this process`);
      const dispatch = this.dispatchInProcess;
      await inProcessSpan(envelope, () => dispatch(envelope));
      return envelope;
    }
    await publishSpan(envelope, route.destination.name, () => route.broker.publish(route.destination, [route.message]));
    return envelope;
  }

  /**
   * Validates `envelope` like `deliver` and says where it would go, without sending it (the outbox
   * writes it in a transaction, or batches many): undefined for a command handled in process.
   */
  async route(envelope: Envelope): Promise<Route | undefined> {
    this.catalog.assertPublishable(envelope.type, envelope.data);
    const destination = this.catalog.destinationOf(envelope.type);
    if (!destination) return undefined;
    const key = await this.keyOf(destination, envelope);
    // Sealed here, the one place every outgoing message passes (deliver, the outbox's direct writes and
    // its relay): encrypted and signed for this destination when its `security` says so.
    const sealed = await this.catalog.security.of(destination).seal(envelope);
    return { broker: this.brokerFor(destination), destination, message: { envelope: sealed, ...(key !== undefined ? { key } : {}) } };
  }

  /** The CloudEvent `publish`/`send` would deliver, with the propagated correlation; not validated yet. */
  envelopeOf(type: string, data: unknown, options: PublishOptions = {}): Envelope {
    const base: EnvelopeOptions = options.cause ? causedBy(options.cause) : {};
    return createEnvelope(type, data, this.definitions.defaults.source, {
      ...base,
      dataversion: this.catalog.latestVersion(type),
      ...(options.id !== undefined ? { id: options.id } : {}),
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
      ...(options.time !== undefined ? { time: options.time } : {}),
      ...(options.correlationId !== undefined ? { correlationid: options.correlationId } : {}),
      ...(options.traceparent !== undefined ? { traceparent: traceparentFor(options.traceparent) } : {}),
    });
  }

  /** A topic's declared `key` expression over the envelope; by default the subject. */
  private async keyOf(destination: DestinationRef, envelope: Envelope): Promise<string | undefined> {
    if (destination.kind !== 'topic') return envelope.subject;
    const expression = this.definitions.topics.get(destination.name)?.spec.key;
    if (expression === undefined) return envelope.subject;
    const value = await evaluateExpression(expression, envelope);
    return value === undefined || value === null ? undefined : String(value);
  }

  private brokerFor(destination: DestinationRef): BrokerAdapter {
    const broker = this.brokers.get(this.plan.brokerOf(destination));
    if (!broker) throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `broker of ${destination.kind} ${destination.name} is not started`);
    return broker;
  }
}
