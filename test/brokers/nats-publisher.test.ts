import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher, type StreamMessage } from '../../runtime/brokers/nats/publisher.js';
import { eventually, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';
import { startPrivateNatsServer, type PrivateNatsServer } from './private-nats-server.js';

/** The adapter's JetStream publish, against the server: what the stream stored and what each answer means. */
describe('JetStreamPublisher', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let publisher: JetStreamPublisher;
  const created: string[] = [];

  beforeAll(async () => {
    await ensureServers(['nats']);
    nc = await connect({ servers: 'nats://127.0.0.1:4222', noAsyncTraces: true });
    jsm = await jetstreamManager(nc);
    publisher = new JetStreamPublisher(nc);
  });
  afterAll(async () => {
    for (const name of created) await jsm.streams.delete(name);
    publisher.close();
    await nc.close();
  });

  async function stream(): Promise<{ name: string; subject: string }> {
    const name = uniqueName('pub');
    await jsm.streams.add({ name, subjects: [`${name}.in`] });
    created.push(name);
    return { name, subject: `${name}.in` };
  }

  it('resolves once the stream acknowledged every message, stored in order with their headers; a re-sent id is stored once', async () => {
    const { name, subject } = await stream();
    expect(await publisher.publish(name, Array.from({ length: 100 }, (_, n) => message(subject, n)), 5_000)).toBeUndefined();
    expect(await publisher.publish(name, [message(subject, 7)], 5_000)).toBeUndefined();
    const info = await jsm.streams.info(name);
    expect(info.state.messages).toBe(100);
    for (const seq of [1, 43, 100]) {
      const stored = await jsm.streams.getMessage(name, { seq });
      expect(stored?.json()).toEqual({ n: seq - 1 });
      expect(stored?.header.get('ce-id')).toBe(`id-${seq - 1}`);
      expect(stored?.header.get('Nats-Msg-Id')).toBe(`m${seq - 1}`);
    }
    expect(publisher.inFlight).toBe(0);
  });

  it('reports the first message the stream refused (another stream expected), with the server\'s reason', async () => {
    const { name, subject } = await stream();
    const other = await stream();
    const messages = [message(subject, 0), message(subject, 1), message(other.subject, 2), message(subject, 3)];
    const result = await publisher.publish(name, messages, 5_000);
    expect(result?.index).toBe(2);
    expect(result?.error.message).toMatch(/JetStream refused the message: .*expected stream.* \(error 10060\)/i);
    expect((await jsm.streams.info(name)).state.messages).toBe(3);
    expect((await jsm.streams.info(other.name)).state.messages).toBe(0);
  });

  it('refuses a batch with a header NATS cannot carry before sending any of it, naming the header', async () => {
    const { name, subject } = await stream();
    const broken = { ...message(subject, 1), headers: { 'ce-subject': 'a\r\nNats-Msg-Id: forged' } };
    await expect(publisher.publish(name, [message(subject, 0), broken], 5_000)).rejects.toThrow(/header ce-subject: a NATS header value cannot contain a line break/);
    const badName = { ...message(subject, 2), headers: { 'ce:x': 'v' } };
    await expect(publisher.publish(name, [badName], 5_000)).rejects.toThrow(/header name "ce:x" cannot travel in NATS headers/);
    expect((await jsm.streams.info(name)).state.messages).toBe(0);
  });

  it('says so when no stream listens on the subject (no responders)', async () => {
    const result = await publisher.publish('nowhere', [message(uniqueName('nowhere'), 0)], 5_000);
    expect(result?.index).toBe(0);
    expect(result?.error.message).toMatch(/no JetStream stream listens on the subject/);
  });

  it('gives up on an unanswered message after the timeout, naming the stream', async () => {
    const silent = uniqueName('silent');
    const swallowed = nc.subscribe(silent);
    const started = Date.now();
    const result = await publisher.publish('a-stream', [message(silent, 0)], 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(result?.index).toBe(0);
    expect(result?.error.message).toBe('no acknowledgement from stream a-stream within 300 ms');
    swallowed.unsubscribe();
  });

  it('fails what still waits when the connection drops, at once rather than at the timeout', async () => {
    const silent = uniqueName('silent');
    const swallowed = nc.subscribe(silent);
    await nc.flush();
    const started = Date.now();
    const waiting = publisher.publish('a-stream', [message(silent, 0), message(silent, 1)], 60_000);
    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === 'reconnect') return;
    })();
    await nc.reconnect();
    const result = await waiting;
    await reconnected;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result?.index).toBe(0);
    expect(result?.error.message).toBe('the connection to NATS dropped before the stream acknowledged');
    expect(publisher.inFlight).toBe(0);
    swallowed.unsubscribe();
  });

  it('ignores an answer after the timeout, and survives answers that are not acknowledgements', async () => {
    const odd = uniqueName('odd');
    const answers = ['null', '{"seq":1}', 'not json'];
    const replyTo: string[] = [];
    // Answers 0, 1, 2 with answers[n]; holds the reply subject of a message whose body is "hold".
    const responder = nc.subscribe(odd, { callback: (_error, request) => (request.string() === 'hold' ? replyTo.push(request.reply!) : request.respond(answers[Number(request.string())]!)) });
    await nc.flush();
    const results = await Promise.all(answers.map((_, n) => publisher.publish('a-stream', [{ ...message(odd, n), body: new TextEncoder().encode(String(n)) }], 5_000)));
    expect(results.map((result) => result?.error.message)).toEqual([
      'unreadable JetStream publish acknowledgement: null',
      'JetStream publish acknowledgement without a stream',
      'unreadable JetStream publish acknowledgement: not json',
    ]);
    // Held by the responder, answered only after the publish gave up.
    const late = await publisher.publish('a-stream', [{ ...message(odd, 9), body: new TextEncoder().encode('hold') }], 200);
    expect(late?.error.message).toBe('no acknowledgement from stream a-stream within 200 ms');
    expect(publisher.inFlight).toBe(0);
    nc.publish(replyTo[0]!, '{"stream":"a-stream","seq":1}');
    await nc.flush();
    responder.unsubscribe();
    const { name, subject } = await stream();
    expect(await publisher.publish(name, [message(subject, 0)], 5_000)).toBeUndefined();
  });

  it('does not send what follows a message the client refuses (over max_payload), and says it cannot be retried', async () => {
    const { name, subject } = await stream();
    const tooLarge = { ...message(subject, 1), body: new Uint8Array(nc.info!.max_payload + 1) };
    const result = await publisher.publish(name, [message(subject, 0), tooLarge, message(subject, 2)], 5_000);
    expect(result?.index).toBe(1);
    expect(result?.retriable).toBe(false);
    expect(result?.error.message).toMatch(/NATS cannot send the message to .*max_payload/);
    expect((await jsm.streams.info(name)).state.messages).toBe(1);
  });
});

/** What a server with permissions reports outside the replies: a refused publish, a refused reply subscription. */
describe('JetStreamPublisher on a server with permissions', () => {
  let server: PrivateNatsServer;

  beforeAll(async () => {
    server = await startPrivateNatsServer(`authorization {
  users = [
    { user: publisher, password: secret, permissions: { publish: { deny: ["denied.>"] } } }
    { user: noreplies, password: secret, permissions: { subscribe: { deny: ["_INBOX.>"] } } }
  ]
}`, { user: 'publisher', pass: 'secret' });
  });
  afterAll(() => server?.dispose());

  it('fails a publish the server refuses for permissions at once, with the server\'s reason', async () => {
    const nc = await connect({ servers: server.url, user: 'publisher', pass: 'secret' });
    const publisher = new JetStreamPublisher(nc);
    const started = Date.now();
    const result = await publisher.publish('a-stream', [message('denied.x', 0)], 30_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result?.error.message).toMatch(/NATS refused the publish to denied\.x: .*Permissions Violation/i);
    publisher.close();
    await nc.close();
  });

  it('keeps the connection reading when the server refuses the reply subscription', async () => {
    const nc = await connect({ servers: server.url, user: 'noreplies', pass: 'secret' });
    const publisher = new JetStreamPublisher(nc);
    const seen: string[] = [];
    nc.subscribe('still.alive', { callback: (_error, received) => seen.push(received.string()) });
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    nc.publish('still.alive', 'yes');
    await nc.flush();
    await eventually(() => seen.length === 1, 5_000, () => 'the connection stopped reading after the subscription error');
    publisher.close();
    await nc.close();
  });
});

const message = (subject: string, n: number, msgId = `m${n}`): StreamMessage => ({ subject, headers: { 'ce-id': `id-${n}` }, body: new TextEncoder().encode(`{"n":${n}}`), msgId });
