import { encodeBinary, type Headers } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type {
  BrokerAdapter, DeadLetter, DeadLetterInfo, DeadLetterOperations, Delivery, DestinationRef, GroupSpec, OutgoingMessage, StartAt, SubscribeRequest, Subscription, Topology,
} from './adapter.js';
import { deadLetterHeaders, readDeadLetterHeaders, withoutDeadLetterHeaders } from './dead-letter.js';
import { KeyedLanes } from './keyed-lanes.js';
import type { BrokerModule } from './index.js';
import { OpenSubscriptions } from './subscriptions.js';

interface Stored {
  readonly id: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly key?: string;
  readonly storedAt: number;
}

interface QueuedMessage extends Stored {
  attempts: number;
  visibleAt: number;
  leased: boolean;
}

interface Group {
  cursor: number;
  /** Dead letters retried back to just this group. */
  readonly redeliveries: Stored[];
  wake?: () => void;
}

const HEADER_PREFIX = 'ce-';

function groupKey(topic: string, group: string): string {
  return `${topic}\u0000${group}`;
}

/**
 * The in-process broker: nothing survives a restart (tests, throwaway runs). Topics are append-only
 * logs with a cursor per group; queues hold messages with a visibility time, like SQS.
 */
export class MemoryBroker implements BrokerAdapter {
  readonly capabilities = { headerPrefix: HEADER_PREFIX, topics: true, brokerDelayedRetry: false, durable: false, topicHistory: true, lateAck: false } as const;
  private readonly topicLogs = new Map<string, Stored[]>();
  private readonly groups = new Map<string, Group>();
  private readonly queueStore = new Map<string, QueuedMessage[]>();
  private readonly queueWakers = new Map<string, Set<() => void>>();
  private readonly subscriptions = new OpenSubscriptions();
  private nextId = 1;
  readonly deadLetters: DeadLetterOperations;

  constructor(readonly name: string) {
    this.deadLetters = this.createDeadLetterOperations();
  }

  async connect(): Promise<void> {}

  async provision(topology: Topology): Promise<void> {
    for (const topic of topology.topics) if (!this.topicLogs.has(topic.name)) this.topicLogs.set(topic.name, []);
    for (const queue of topology.queues) {
      this.ensureQueue(queue.name);
      if (queue.deadLetter) this.ensureQueue(queue.deadLetter);
    }
    for (const group of topology.groups) {
      if (group.deadLetter) this.ensureQueue(group.deadLetter);
      // A new group starts at the topic's end as of now (see StartAt); an existing one keeps its cursor.
      if (group.destination.kind === 'topic') this.group(group.destination.name, group.group, 'latest');
    }
  }

  async publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    for (const message of messages) {
      const wire = encodeBinary(message.envelope, HEADER_PREFIX);
      this.append(destination, { headers: wire.headers, body: wire.body, ...(message.key !== undefined ? { key: message.key } : {}) });
    }
  }

  async subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription> {
    const lanes = new KeyedLanes(Math.max(1, Math.min(request.concurrency, request.prefetch)));
    let running = true;
    const loop = request.destination.kind === 'topic' ? this.consumeTopic(request, deliver, lanes, () => running) : this.consumeQueue(request, deliver, lanes, () => running);
    return this.subscriptions.track(async () => {
      running = false;
      this.wakeAll(request);
      await loop;
      await lanes.idle();
      if (request.ephemeral && request.destination.kind === 'topic') this.groups.delete(groupKey(request.destination.name, request.group));
    });
  }

  /** Topic: the log after the group's cursor plus its redeliveries (the cursor moves on delivery, so in-flight ones do not count); queue: every message not yet settled. */
  async lag(group: GroupSpec): Promise<number> {
    const { kind, name } = group.destination;
    if (kind === 'queue') {
      const queue = this.queueStore.get(name);
      if (!queue) throw new EdaflowError('EDA_UNKNOWN_DESTINATION', `queue ${name} is not provisioned on broker ${this.name}`);
      return queue.length;
    }
    const log = this.topicLogs.get(name);
    const state = this.groups.get(groupKey(name, group.group));
    if (!log) throw new EdaflowError('EDA_UNKNOWN_DESTINATION', `topic ${name} is not provisioned on broker ${this.name}`);
    return state ? log.length - state.cursor + state.redeliveries.length : log.length;
  }

  async close(): Promise<void> {
    await this.subscriptions.stopAll();
  }

  private append(destination: DestinationRef, message: Omit<Stored, 'id' | 'storedAt'>): void {
    const stored: Stored = { ...message, id: this.nextId++, storedAt: Date.now() };
    if (destination.kind === 'topic') {
      const log = this.topicLogs.get(destination.name);
      if (!log) throw new EdaflowError('EDA_UNKNOWN_TYPE', `topic ${destination.name} is not provisioned on broker ${this.name}`);
      log.push(stored);
      for (const [key, group] of this.groups) if (key.startsWith(groupKey(destination.name, ''))) group.wake?.();
    } else {
      const queue = this.queueStore.get(destination.name);
      if (!queue) throw new EdaflowError('EDA_UNKNOWN_TYPE', `queue ${destination.name} is not provisioned on broker ${this.name}`);
      queue.push({ ...stored, attempts: 0, visibleAt: 0, leased: false });
      for (const wake of this.queueWakers.get(destination.name) ?? []) wake();
    }
  }

  private ensureQueue(name: string): void {
    if (!this.queueStore.has(name)) this.queueStore.set(name, []);
  }

  /** The group's state; a group seen for the first time starts at `startAt`. */
  private group(topic: string, group: string, startAt: StartAt = 'earliest'): Group {
    const key = groupKey(topic, group);
    let state = this.groups.get(key);
    if (!state) {
      state = { cursor: startAt === 'latest' ? (this.topicLogs.get(topic)?.length ?? 0) : 0, redeliveries: [] };
      this.groups.set(key, state);
    }
    return state;
  }

  private wakeAll(request: SubscribeRequest): void {
    if (request.destination.kind === 'topic') this.group(request.destination.name, request.group).wake?.();
    else for (const wake of this.queueWakers.get(request.destination.name) ?? []) wake();
  }

  /** Topic: in log order; a retried message blocks its key's lane until it settles (Kafka's semantics). */
  private async consumeTopic(request: SubscribeRequest, deliver: (d: Delivery) => Promise<void>, lanes: KeyedLanes, running: () => boolean): Promise<void> {
    const log = this.topicLogs.get(request.destination.name) ?? [];
    const group = this.group(request.destination.name, request.group, request.startAt);
    while (running()) {
      const next = group.redeliveries.shift() ?? (group.cursor < log.length ? log[group.cursor++] : undefined);
      if (!next) {
        await new Promise<void>((resolve) => (group.wake = resolve));
        continue;
      }
      await lanes.submit(next.key, () => this.deliverUntilSettled(next, request, deliver));
    }
  }

  private async deliverUntilSettled(message: Stored, request: SubscribeRequest, deliver: (d: Delivery) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let retryAfter: number | undefined;
      await deliver(this.delivery(message, attempt, {
        retry: async (delayMs) => void (retryAfter = delayMs),
        deadLetter: async (info) => this.toDeadLetter(request.deadLetter, message, info),
      }));
      if (retryAfter === undefined) return;
      await new Promise((resolve) => setTimeout(resolve, retryAfter));
    }
  }

  /** Queue: competing consumers; a retried message becomes visible again after its delay. */
  private async consumeQueue(request: SubscribeRequest, deliver: (d: Delivery) => Promise<void>, lanes: KeyedLanes, running: () => boolean): Promise<void> {
    const queue = this.queueStore.get(request.destination.name) ?? [];
    const wakers = this.queueWakers.get(request.destination.name) ?? new Set();
    this.queueWakers.set(request.destination.name, wakers);
    while (running()) {
      const now = Date.now();
      const next = queue.find((message) => !message.leased && message.visibleAt <= now);
      if (!next) {
        const soonest = Math.min(...queue.filter((m) => !m.leased).map((m) => m.visibleAt));
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            wakers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, Number.isFinite(soonest) ? Math.max(1, soonest - now) : 60_000);
          wakers.add(wake);
        });
        continue;
      }
      next.leased = true;
      next.attempts++;
      const remove = (): void => {
        const index = queue.indexOf(next);
        if (index >= 0) queue.splice(index, 1);
      };
      await lanes.submit(undefined, () =>
        deliver(this.delivery(next, next.attempts, {
          ack: async () => remove(),
          retry: async (delayMs) => {
            next.leased = false;
            next.visibleAt = Date.now() + delayMs;
            setTimeout(() => wakers.forEach((wake) => wake()), delayMs);
          },
          deadLetter: async (info) => {
            this.toDeadLetter(request.deadLetter, next, info);
            remove();
          },
        })),
      );
    }
  }

  private delivery(message: Stored, attempt: number, settle: Partial<Pick<Delivery, 'ack' | 'retry' | 'deadLetter'>>): Delivery {
    return {
      headers: message.headers,
      body: message.body,
      attempt,
      ...(message.key !== undefined ? { key: message.key } : {}),
      ack: settle.ack ?? (async () => undefined),
      retry: settle.retry ?? (async () => undefined),
      deadLetter: settle.deadLetter ?? (async () => undefined),
    };
  }

  private toDeadLetter(deadLetter: string | null, message: Stored, info: DeadLetterInfo): void {
    if (deadLetter === null) return;
    this.ensureQueue(deadLetter);
    this.append({ kind: 'queue', name: deadLetter }, { headers: { ...message.headers, ...deadLetterHeaders(info) }, body: message.body, ...(message.key !== undefined ? { key: message.key } : {}) });
  }

  private createDeadLetterOperations(): DeadLetterOperations {
    const queueOf = (name: string): QueuedMessage[] => {
      const queue = this.queueStore.get(name);
      if (!queue) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no dead-letter queue ${name} on broker ${this.name}`);
      return queue;
    };
    const toDeadLetter = (name: string, message: QueuedMessage): DeadLetter => ({
      id: String(message.id),
      deadLetterDestination: name,
      headers: message.headers as Headers,
      body: message.body,
      info: readDeadLetterHeaders(message.headers)!,
    });
    const retryOne = (name: string, message: QueuedMessage): void => {
      const info = readDeadLetterHeaders(message.headers);
      if (!info) throw new EdaflowError('EDA_UNKNOWN_TYPE', `message ${message.id} in ${name} has no dead-letter metadata`);
      const restored = { headers: withoutDeadLetterHeaders(message.headers), body: message.body, ...(message.key !== undefined ? { key: message.key } : {}) };
      if (info.origin.kind === 'topic') {
        // Back to the group that failed it, not to every group of the topic.
        const group = this.group(info.origin.name, info.group);
        group.redeliveries.push({ ...restored, id: this.nextId++, storedAt: Date.now() });
        group.wake?.();
      } else {
        this.append(info.origin, restored);
      }
      const queue = queueOf(name);
      queue.splice(queue.indexOf(message), 1);
    };
    return {
      list: async (name, options) => queueOf(name).slice(0, options?.limit ?? 100).map((message) => toDeadLetter(name, message)),
      count: async (name) => queueOf(name).length,
      retry: async (name, id) => {
        const message = queueOf(name).find((m) => String(m.id) === id);
        if (!message) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no message ${id} in ${name}`);
        retryOne(name, message);
      },
      retryAll: async (name) => {
        const messages = [...queueOf(name)];
        for (const message of messages) retryOne(name, message);
        return messages.length;
      },
      purge: async (name, options) => {
        const queue = queueOf(name);
        const cutoff = options?.olderThanMs === undefined ? Infinity : Date.now() - options.olderThanMs;
        const doomed = queue.filter((message) => message.storedAt <= cutoff);
        for (const message of doomed) queue.splice(queue.indexOf(message), 1);
        return doomed.length;
      },
    };
  }
}

export const createAdapter: BrokerModule<'memory'>['createAdapter'] = (name) => new MemoryBroker(name);
