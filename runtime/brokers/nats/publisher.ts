import { createInbox, PermissionViolationError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { EdaflowError } from '../../errors/index.js';
import { toNatsHeaders } from './wire.js';

/** A message for a JetStream stream; `msgId` makes a re-sent copy a no-op within the stream's duplicate window. */
export interface StreamMessage {
  readonly subject: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly msgId: string;
}

/**
 * The first message of a batch the stream did not acknowledge, and why. The ones before it are stored;
 * later ones were sent too (publishes are pipelined) and may be stored: a re-send with the same ids is
 * what makes them whole. `retriable` is false when the client refused to send it at all (too large).
 */
export interface Unacknowledged {
  readonly index: number;
  readonly error: Error;
  readonly retriable: boolean;
}

interface Pending {
  readonly subject: string;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Publishes to JetStream and reads the stream's acknowledgements on one reply subscription per
 * connection: the protocol `js.publish()` speaks (the message with `Nats-Msg-Id` and
 * `Nats-Expected-Stream` headers and a reply subject; the answer a JSON PubAck or API error), without its
 * cost per message. `js.publish()` makes each publish a core request, and nats-core 3.4 ends every
 * request, even an answered one, by rejecting its settled promise with a new RequestError: a stack
 * trace captured per message, plus a timer each. Here a batch shares one timer.
 *
 * What the client reports outside a reply settles the publishes it concerns at once: a dropped
 * connection (its acknowledgements are lost: re-send), a publish permission violation for a subject.
 */
export class JetStreamPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private readonly replies: Subscription;
  private idleWaiters: (() => void)[] = [];
  private sequence = 0;

  constructor(private readonly nc: NatsConnection) {
    // Never throws into the client: an exception in a subscription callback stops its reader for good.
    this.replies = nc.subscribe(`${this.inbox}.*`, {
      callback: (error, reply) => (error ? this.failPending(`the acknowledgement subscription failed: ${error.message}`) : this.answered(reply)),
    });
    void this.watch();
  }

  /** Publishes awaiting their acknowledgement. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Publishes `messages` in order, pipelined, to `stream`; resolves once every one was acknowledged, or with
   * the first that was not (refused, unanswered within `timeoutMs`, or not sent at all).
   */
  async publish(stream: string, messages: readonly StreamMessage[], timeoutMs: number): Promise<Unacknowledged | undefined> {
    // Every message's headers first: one that cannot be sent throws before any is.
    const headers = messages.map((message) => toNatsHeaders({ ...message.headers, 'Nats-Msg-Id': message.msgId, 'Nats-Expected-Stream': stream }));
    const tokens: string[] = [];
    const acknowledged: Promise<void>[] = [];
    let notSent: Unacknowledged | undefined;
    for (const [index, message] of messages.entries()) {
      const token = String(++this.sequence);
      try {
        this.nc.publish(message.subject, message.body, { reply: `${this.inbox}.${token}`, headers: headers[index]! });
      } catch (error) {
        // Refused by the client (e.g. over the server's max_payload): nothing after it is sent either.
        notSent = { index, error: new EdaflowError('EDA_MESSAGE_REJECTED', `NATS cannot send the message to ${message.subject}: ${(error as Error).message}`), retriable: false };
        break;
      }
      tokens.push(token);
      acknowledged.push(new Promise<void>((resolve, reject) => this.pending.set(token, { subject: message.subject, resolve, reject })));
    }
    const timer = setTimeout(() => {
      for (const token of tokens) this.settle(token, new EdaflowError('EDA_BROKER_UNAVAILABLE', `no acknowledgement from stream ${stream} within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      const results = await Promise.allSettled(acknowledged);
      const index = results.findIndex((result) => result.status === 'rejected');
      return index < 0 ? notSent : { index, error: (results[index] as PromiseRejectedResult).reason as Error, retriable: true };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once no publish awaits its acknowledgement (each is bounded by its timeout). */
  settled(): Promise<void> {
    return this.pending.size ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  /** Fails what waits for an answer that can no longer come; the caller re-sends. */
  private failPending(reason: string): void {
    for (const token of [...this.pending.keys()]) this.settle(token, new EdaflowError('EDA_BROKER_UNAVAILABLE', reason));
  }

  close(): void {
    this.failPending('the connection closed');
    if (!this.replies.isClosed()) this.replies.unsubscribe();
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      // An acknowledgement sent before the drop is lost with it: re-send now (ids make copies no-ops) rather than at the timeout.
      if (status.type === 'disconnect') this.failPending('the connection to NATS dropped before the stream acknowledged');
      if (status.type === 'error' && status.error instanceof PermissionViolationError && status.error.operation === 'publish') {
        this.failSubject(status.error.subject, `NATS refused the publish to ${status.error.subject}: ${status.error.message}`);
      }
    }
  }

  private failSubject(subject: string, reason: string): void {
    for (const [token, waiting] of [...this.pending]) if (waiting.subject === subject) this.settle(token, new EdaflowError('EDA_BROKER_UNAVAILABLE', reason));
  }

  private answered(reply: Msg): void {
    try {
      this.settle(reply.subject.slice(this.inbox.length + 1), refusal(reply));
    } catch {
      // An answer that cannot be read leaves its publish to the timeout (then re-sent).
    }
  }

  private settle(token: string, error: Error | undefined): void {
    const waiting = this.pending.get(token);
    if (!waiting) return;
    this.pending.delete(token);
    if (error) waiting.reject(error);
    else waiting.resolve();
    if (!this.pending.size) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/** Why the stream did not store the message, or undefined for a PubAck (a duplicate too: the copy is stored). */
function refusal(reply: Msg): Error | undefined {
  if (reply.data.length === 0 && reply.headers?.code === 503) return new EdaflowError('EDA_BROKER_UNAVAILABLE', 'no JetStream stream listens on the subject (503 no responders)');
  let answer: unknown;
  try {
    answer = reply.json();
  } catch {
    answer = undefined;
  }
  if (answer === null || typeof answer !== 'object') return new EdaflowError('EDA_BROKER_UNAVAILABLE', `unreadable JetStream publish acknowledgement: ${reply.string().slice(0, 200)}`);
  const { stream, error } = answer as { stream?: unknown; error?: { code?: number; err_code?: number; description?: string } };
  if (error) {
    return new EdaflowError('EDA_BROKER_UNAVAILABLE', `JetStream refused the message: ${error.description ?? 'no description'} (error ${error.err_code ?? error.code})`, { details: { apiCode: error.err_code } });
  }
  return typeof stream === 'string' && stream ? undefined : new EdaflowError('EDA_BROKER_UNAVAILABLE', 'JetStream publish acknowledgement without a stream');
}
