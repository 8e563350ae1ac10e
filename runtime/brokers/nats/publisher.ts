import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { EdaflowError } from '../../errors/index.js';
import { toNatsHeaders } from './wire.js';

/** A message for a JetStream stream; `msgId` makes a re-sent copy a no-op within the stream's duplicate window. */
export interface StreamMessage {
  readonly subject: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly msgId: string;
}

/** The first message of a batch the stream did not acknowledge, and why (the ones before it are stored). */
export interface Unacknowledged {
  readonly index: number;
  readonly error: Error;
}

interface Pending {
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
 */
export class JetStreamPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private readonly replies: Subscription;
  private sequence = 0;

  constructor(private readonly nc: NatsConnection) {
    this.replies = nc.subscribe(`${this.inbox}.*`, { callback: (_error, reply) => this.answered(reply) });
  }

  /**
   * Publishes `messages` in order, pipelined, to `stream`; resolves once every one was acknowledged, or with
   * the first that was not (refused, or unanswered within `timeoutMs`).
   */
  async publish(stream: string, messages: readonly StreamMessage[], timeoutMs: number): Promise<Unacknowledged | undefined> {
    // Every message's headers first: one that cannot be sent throws before any is.
    const headers = messages.map((message) => toNatsHeaders({ ...message.headers, 'Nats-Msg-Id': message.msgId, 'Nats-Expected-Stream': stream }));
    const tokens: string[] = [];
    const acknowledged = messages.map((message, index) => {
      const token = String(++this.sequence);
      tokens.push(token);
      const settled = new Promise<void>((resolve, reject) => this.pending.set(token, { resolve, reject }));
      try {
        this.nc.publish(message.subject, message.body, { reply: `${this.inbox}.${token}`, headers: headers[index]! });
      } catch (error) {
        this.settle(token, error as Error);
      }
      return settled;
    });
    const timer = setTimeout(() => {
      for (const token of tokens) this.settle(token, new EdaflowError('EDA_BROKER_UNAVAILABLE', `no acknowledgement from stream ${stream} within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      const results = await Promise.allSettled(acknowledged);
      const index = results.findIndex((result) => result.status === 'rejected');
      return index < 0 ? undefined : { index, error: (results[index] as PromiseRejectedResult).reason as Error };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Fails what waits for an answer that can no longer come (the connection dropped); the caller re-sends. */
  failPending(reason: string): void {
    for (const token of [...this.pending.keys()]) this.settle(token, new EdaflowError('EDA_BROKER_UNAVAILABLE', reason));
  }

  close(): void {
    this.failPending('the connection closed');
    this.replies.unsubscribe();
  }

  private answered(reply: Msg): void {
    const token = reply.subject.slice(this.inbox.length + 1);
    this.settle(token, refusal(reply));
  }

  private settle(token: string, error: Error | undefined): void {
    const waiting = this.pending.get(token);
    if (!waiting) return;
    this.pending.delete(token);
    if (error) waiting.reject(error);
    else waiting.resolve();
  }
}

/** Why the stream did not store the message, or undefined for a PubAck (a duplicate too: the copy is stored). */
function refusal(reply: Msg): Error | undefined {
  if (reply.data.length === 0 && reply.headers?.code === 503) return new EdaflowError('EDA_BROKER_UNAVAILABLE', 'no JetStream stream listens on the subject (503 no responders)');
  let answer: { stream?: string; error?: { code?: number; err_code?: number; description?: string } };
  try {
    answer = reply.json();
  } catch {
    return new EdaflowError('EDA_BROKER_UNAVAILABLE', `unreadable JetStream publish acknowledgement: ${reply.string().slice(0, 200)}`);
  }
  const { error } = answer;
  if (error) {
    return new EdaflowError('EDA_BROKER_UNAVAILABLE', `JetStream refused the message: ${error.description ?? 'no description'} (error ${error.err_code ?? error.code})`, { details: { apiCode: error.err_code } });
  }
  return answer.stream ? undefined : new EdaflowError('EDA_BROKER_UNAVAILABLE', 'JetStream publish acknowledgement without a stream');
}
