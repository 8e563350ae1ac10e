import {
  ClosedConnectionError, ConnectionError, MsgHdrsImpl, NoRespondersError, RequestError, TimeoutError, type MsgHdrs,
} from '@nats-io/transport-node';
import { EdaflowError } from '../../errors/index.js';
import type { DestinationRef } from '../adapter.js';

/**
 * How edaflow's names map onto JetStream. Stream names may not contain `.`, `*`, `>`, spaces or path
 * separators, and one subject token may not contain `.`, so every name becomes one safe token. Each kind
 * has its own subject space (`edaflow.topic.*`, `edaflow.queue.*`, `edaflow.dlq.*`) so a topic and a
 * queue of one name never capture each other's subjects.
 */
export function token(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

export type StreamKind = 'topic' | 'queue' | 'dlq';

export function streamName(kind: StreamKind, name: string): string {
  return `${kind}_${token(name)}`;
}

/** The subject messages are published to. */
export function subject(kind: StreamKind, name: string): string {
  return `edaflow.${kind}.${token(name)}`;
}

/**
 * A retried dead letter of a topic goes back to the failing group only: it is published to this
 * subject, which every group's consumer sees (server 2.9 allows one filter subject per consumer) and
 * every other group skips.
 */
export function groupSubject(topic: string, group: string): string {
  return `${subject('topic', topic)}.to.${token(group)}`;
}

export function streamSubjects(kind: StreamKind, name: string): string[] {
  return kind === 'topic' ? [subject(kind, name), `${subject(kind, name)}.to.*`] : [subject(kind, name)];
}

export function destinationStream(destination: DestinationRef): string {
  return streamName(destination.kind, destination.name);
}

/** The ordering key travels in its own header (CloudEvents has no standard attribute for it). */
export const KEY_HEADER = 'edaflow-key';

/** A header name NATS can carry: printable ASCII without `:` (what the client checks). */
const HEADER_NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n]/;

/**
 * The record as NATS headers, checked as the client checks them (a value with CR or LF would end the
 * header block early). Built in one pass: the client's own append() searches every name already set
 * and matches each value against a regular expression, about 5 µs for an envelope's headers.
 */
export function toNatsHeaders(record: Readonly<Record<string, string | undefined>>): MsgHdrs {
  const checked: Record<string, string[]> = {};
  for (const name in record) {
    const value = record[name];
    if (value === undefined) continue;
    if (!HEADER_NAME.test(name)) throw new EdaflowError('EDA_MESSAGE_MALFORMED', `header name ${JSON.stringify(name)} cannot travel in NATS headers: printable ASCII without ':' only`);
    if (LINE_BREAK.test(value)) throw new EdaflowError('EDA_MESSAGE_MALFORMED', `header ${name}: a NATS header value cannot contain a line break (CR or LF)`);
    checked[name] = [value];
  }
  return MsgHdrsImpl.fromRecord(checked);
}

/**
 * The headers of a received message as a plain record, without the server's own `Nats-*` headers:
 * a copied `Nats-Msg-Id` would make the stream drop a dead letter retried within its duplicate window.
 */
export function fromNatsHeaders(headers: MsgHdrs | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!headers) return result;
  // Iterated (name, values) pairs: headers.get(name) would search every name again for each one.
  for (const [name, values] of headers) if (!isServerHeader(name) && values.length) result[name] = values[0]!;
  return result;
}

/** `Nats-*` in any case (runs for every header of every message: no regular expression). */
function isServerHeader(name: string): boolean {
  return name.length >= 5 && name.charCodeAt(4) === 45 /* - */ && name.slice(0, 4).toLowerCase() === 'nats';
}

/** Errors that mean "the server is not reachable right now" become EDA_BROKER_UNAVAILABLE (retriable). */
export function asUnavailable(error: unknown, what: string): unknown {
  const transient = [TimeoutError, NoRespondersError, ConnectionError, ClosedConnectionError, RequestError].some((type) => error instanceof type);
  return transient ? new EdaflowError('EDA_BROKER_UNAVAILABLE', `NATS did not answer ${what}: ${(error as Error).message}`, { cause: error }) : error;
}
