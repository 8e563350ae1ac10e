import type { BrokerAdapter, Subscription } from '../brokers/adapter.js';
import { evaluateExpression } from '../core/expressions.js';
import type { Definitions } from '../definitions/index.js';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { DedupStore } from '../idempotency/dedup.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { Publisher, PublishOptions } from '../messaging/publisher.js';
import type { ConsumerPlan, MessagingPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AttemptContext, MessageHandler } from '../pipeline/consumer.js';
import { subscribePlanned } from '../messaging/subscribe.js';
import type { CommandBus } from '../aggregates/index.js';

/** What a handler function receives besides the message (the generated `HandlerContext`). */
export interface HandlerContext {
  emit(type: string, data: unknown, options?: Pick<PublishOptions, 'id' | 'subject'>): Promise<void>;
  send(type: string, data: unknown, options?: Pick<PublishOptions, 'id' | 'subject'>): Promise<void>;
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly idempotencyKey: string;
}

type HandlerFunction = (message: Envelope, context: HandlerContext) => unknown;

export interface HandlerRunnerOptions {
  readonly definitions: Definitions;
  readonly plan: MessagingPlan;
  readonly catalog: MessageCatalog;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  readonly publisher: Publisher;
  readonly functions: HandlerFunctions;
  readonly dedup: DedupStore;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Executes the commands aggregates handle: sent in-process, or read from their queue. */
  readonly commandBus?: CommandBus;
}

/**
 * Subscribes every handler (choreography) through the shared consumer pipeline, and serves commands
 * that travel over no queue in-process. A handler may emit and send only what its definition declares.
 */
export async function startHandlers(options: HandlerRunnerOptions): Promise<{ stop(): Promise<void> }> {
  const subscriptions: Subscription[] = [];
  const commandBus = options.commandBus;
  const consumers: [ConsumerPlan, MessageHandler][] = [
    ...options.plan.consumers.map((consumer): [ConsumerPlan, MessageHandler] => [consumer, (envelope, attempt) => invoke(options, consumer.name, envelope, attempt)]),
    // Without a command bus here, an aggregate's queued commands wait for a process that has one.
    ...(commandBus ? options.plan.aggregateConsumers.map((consumer): [ConsumerPlan, MessageHandler] => [consumer, async (envelope) => void (await commandBus.execute(envelope))]) : []),
  ];
  for (const [consumer, handle] of consumers) {
    subscriptions.push(
      await subscribePlanned({
        consumer,
        broker: options.brokers.get(consumer.broker)!,
        catalog: options.catalog,
        logger: options.logger,
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(consumer.idempotency ? { dedup: { store: options.dedup, ttlMs: consumer.idempotency.ttlMs, key: keyFunction(consumer.idempotency.key) } } : {}),
        handle,
      }),
    );
    options.logger.info({ handler: consumer.name, destination: consumer.destination, group: consumer.group, broker: consumer.broker }, 'handler subscribed');
  }
  options.publisher.onInProcess(async (envelope) => {
    const handlers = options.plan.inProcess.get(envelope.type) ?? [];
    if (commandBus?.handles(envelope.type)) await commandBus.execute(envelope);
    else if (handlers.length === 0) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no handler for ${envelope.type} in this process`);
    for (const name of handlers) await invoke(options, name, envelope, { attempt: 1, signal: new AbortController().signal });
  });
  return { stop: async () => void (await Promise.all(subscriptions.map((subscription) => subscription.stop()))) };
}

async function invoke(options: HandlerRunnerOptions, name: string, envelope: Envelope, attempt: AttemptContext): Promise<void> {
  const spec = options.definitions.handlers.get(name)!.spec;
  const declared = (list: readonly string[] | undefined, type: string, verb: string): void => {
    if (!(list ?? []).includes(type)) throw new EdaflowError('EDA_UNDECLARED_MESSAGE', `handler ${name} ${verb} ${type}, which its definition does not declare (${verb === 'emits' ? 'emits' : 'sends'}: [${(list ?? []).join(', ')}])`);
  };
  const context: HandlerContext = {
    emit: async (type, data, extra) => {
      declared(spec.emits, type, 'emits');
      await options.publisher.publish(type, data, { ...extra, cause: envelope });
    },
    send: async (type, data, extra) => {
      declared(spec.sends, type, 'sends');
      await options.publisher.send(type, data, { ...extra, cause: envelope });
    },
    attempt: attempt.attempt,
    // Read through: the pipeline makes the AbortController only for a handler that asks for it.
    get signal() {
      return attempt.signal;
    },
    idempotencyKey: `${name}:${envelope.id}`,
  };
  await (options.functions[name] as unknown as HandlerFunction)(envelope, context);
}

function keyFunction(expression: string): (envelope: Envelope) => Promise<string> {
  return async (envelope) => String(await evaluateExpression(expression, envelope));
}

export type { ConsumerPlan };
