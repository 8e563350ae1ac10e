import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher, type StreamMessage } from '../../runtime/brokers/nats/publisher.js';
import { uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

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

  const message = (subject: string, n: number, msgId = `m${n}`): StreamMessage => ({ subject, headers: { 'ce-id': `id-${n}` }, body: new TextEncoder().encode(`{"n":${n}}`), msgId });

  it('resolves once the stream acknowledged every message, stored in order with their headers; a re-sent id is stored once', async () => {
    const { name, subject } = await stream();
    expect(await publisher.publish(name, Array.from({ length: 100 }, (_, n) => message(subject, n)), 5_000)).toBeUndefined();
    expect(await publisher.publish(name, [message(subject, 7)], 5_000)).toBeUndefined();
    const info = await jsm.streams.info(name);
    expect(info.state.messages).toBe(100);
    const stored = await jsm.streams.getMessage(name, { seq: 43 });
    expect(stored?.json()).toEqual({ n: 42 });
    expect(stored?.header.get('ce-id')).toBe('id-42');
    expect(stored?.header.get('Nats-Msg-Id')).toBe('m42');
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

  it('fails what still waits when told the connection dropped, at once rather than at the timeout', async () => {
    const silent = uniqueName('silent');
    const swallowed = nc.subscribe(silent);
    const waiting = publisher.publish('a-stream', [message(silent, 0), message(silent, 1)], 60_000);
    await nc.flush();
    publisher.failPending('the connection dropped');
    const result = await waiting;
    expect(result?.index).toBe(0);
    expect(result?.error.message).toBe('the connection dropped');
    swallowed.unsubscribe();
  });
});
