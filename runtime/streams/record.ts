import { evaluateExpression, evaluateTemplate } from '../core/expressions.js';
import { causedBy, createEnvelope, type Envelope } from '../envelope/index.js';
import type { EmitModel, Side } from './model.js';

/** A record a stream keeps in its state (a join buffer, an open window), as it is stored in the database. */
export interface StreamRecord {
  /** Unique within the stream: the side and the message id (a self-join sees one message on both sides). */
  readonly bufferId: string;
  readonly side: Side;
  readonly key: string;
  /** Event time, in epoch milliseconds. */
  readonly time: number;
  readonly envelope: Envelope;
  /** A join record that has found a partner (a left/outer join emits the unmatched ones alone). */
  matched: boolean;
}

/** Why a record left no trace in the stream. */
export type DropReason = 'late' | 'no-key' | 'no-time' | 'duplicate' | 'filtered';

/**
 * What one record did to a stream: its new stream time, the records kept and forgotten (the durable
 * state's difference, written in the transaction that also writes `outputs`), and what it emitted.
 */
export interface StepResult {
  readonly streamTime: number | undefined;
  readonly added: readonly StreamRecord[];
  /** Buffer ids of records kept before that are now matched. */
  readonly matched: readonly string[];
  /** Buffer ids of records whose windows have closed. */
  readonly removed: readonly string[];
  readonly outputs: readonly Envelope[];
  readonly dropped?: DropReason;
}

export function dropped(streamTime: number | undefined, reason: DropReason): StepResult {
  return { streamTime, added: [], matched: [], removed: [], outputs: [], dropped: reason };
}

export function bufferIdOf(side: Side, envelope: Envelope): string {
  return `${side}:${envelope.id}`;
}

/** Event time in epoch milliseconds, or undefined when `time` is missing or not a timestamp. */
export function eventTime(envelope: Envelope): number | undefined {
  const time = Date.parse(envelope.time);
  return Number.isFinite(time) ? time : undefined;
}

/** A key as a string: undefined for a null, missing or empty one (such records are dropped and counted). */
export async function evaluateKey(selector: string, envelope: Envelope): Promise<string | undefined> {
  const value = await evaluateExpression(selector, envelope);
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export interface Emission {
  readonly id: string;
  readonly time: number;
  readonly subject: string | undefined;
  /** The template's scope: the envelope of the record being handled plus `left`, `right`, `key`, `window`, `state`. */
  readonly scope: Record<string, unknown>;
  /** The message the output is caused by (its correlation carries over); none for a window's result. */
  readonly cause?: Envelope;
  /** The data when `emit` has no template (default: the handled record's data). */
  readonly defaultData?: unknown;
}

/** Builds an output event from the stream's `emit`: data from its template, id and time as given. */
export async function emitEnvelope(emit: EmitModel, emission: Emission): Promise<Envelope> {
  const data = emit.data === undefined ? ('defaultData' in emission ? emission.defaultData : emission.scope['data']) : await evaluateTemplate(emit.data, emission.scope);
  const options = { id: emission.id, time: new Date(emission.time).toISOString(), dataversion: emit.dataversion, ...(emission.subject !== undefined ? { subject: emission.subject } : {}) };
  return createEnvelope(emit.event, data, emit.source, emission.cause ? causedBy(emission.cause, options) : options);
}

/** Orders records by event time, then id: the order a window's records are reduced in, whatever order they came in. */
export function byTimeThenId(a: StreamRecord, b: StreamRecord): number {
  return a.time - b.time || (a.bufferId < b.bufferId ? -1 : a.bufferId > b.bufferId ? 1 : 0);
}
