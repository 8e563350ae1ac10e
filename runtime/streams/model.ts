import { parseDuration, type Defined, type Definitions, type Document } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';

/** Which input of a stream a record came in on: a join's left or right side, or the one input of the others. */
export type Side = 'left' | 'right' | 'input';

export interface InputModel {
  readonly side: Side;
  readonly event: string;
  /** The key selector (a bare JSONata expression); undefined when the stream needs no key. */
  readonly key?: string;
}

export interface EmitModel {
  readonly event: string;
  /** The data template; undefined: the data of the record being handled. */
  readonly data?: unknown;
  /** The latest schema version of `event`, stamped on what the stream emits. */
  readonly dataversion: number;
  /** The `source` attribute of what the stream emits (`defaults.source`). */
  readonly source: string;
}

interface StreamBase {
  readonly name: string;
  readonly inputs: readonly InputModel[];
  readonly emit: EmitModel;
}

export interface JoinModel extends StreamBase {
  readonly kind: 'join';
  readonly type: 'inner' | 'left' | 'outer';
  readonly left: InputModel & { readonly key: string };
  readonly right: InputModel & { readonly key: string };
  readonly withinMs: number;
  readonly graceMs: number;
}

export type WindowModel =
  | { readonly kind: 'tumbling'; readonly sizeMs: number }
  | { readonly kind: 'hopping'; readonly sizeMs: number; readonly advanceMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

export interface AggregateModel extends StreamBase {
  readonly kind: 'aggregate';
  readonly groupBy: string;
  readonly window: WindowModel;
  readonly graceMs: number;
  readonly init: unknown;
  readonly reduce: unknown;
}

export interface FilterModel extends StreamBase {
  readonly kind: 'filter';
  /** Keep records for which this is true; undefined keeps every record (a plain map). */
  readonly filter?: string;
}

export type StreamModel = JoinModel | AggregateModel | FilterModel;

/** Every stream of the definitions, compiled: durations in milliseconds, defaults applied. */
export function streamModels(definitions: Definitions): StreamModel[] {
  return [...definitions.streams.values()].map((stream) => streamModel(definitions, stream));
}

/**
 * One stream, compiled. `grace` defaults to 0 (a record older than stream time is late at once) and a
 * join's `type` to inner. Throws EDA_STARTUP for a definition `validate` would have refused.
 */
export function streamModel(definitions: Definitions, stream: Defined<Document.StreamDefinition>): StreamModel {
  const { spec, name } = stream;
  const emitted = definitions.events.get(spec.emit.event);
  if (!emitted) throw invalid(name, `emits ${spec.emit.event}, which is not an event`);
  const emit: EmitModel = { event: spec.emit.event, ...(spec.emit.data !== undefined ? { data: spec.emit.data } : {}), dataversion: emitted.latest, source: definitions.defaults.source };
  if (spec.join) {
    const join = spec.join;
    const left = { side: 'left' as const, event: join.left.event, key: join.left.key };
    const right = { side: 'right' as const, event: join.right.event, key: join.right.key };
    return { kind: 'join', name, emit, inputs: [left, right], left, right, type: join.type ?? 'inner', withinMs: duration(name, join.within, 'within'), graceMs: duration(name, join.grace ?? 0, 'grace') };
  }
  if (spec.aggregate) {
    const aggregate = spec.aggregate;
    const input: InputModel = { side: 'input', event: aggregate.from.event, ...(aggregate.from.key !== undefined ? { key: aggregate.from.key } : {}) };
    return {
      kind: 'aggregate',
      name,
      emit,
      inputs: [input],
      groupBy: aggregate.groupBy,
      window: windowModel(name, aggregate.window),
      graceMs: duration(name, aggregate.window.grace ?? 0, 'window.grace'),
      init: aggregate.init,
      reduce: aggregate.reduce,
    };
  }
  if (spec.from) {
    const input: InputModel = { side: 'input', event: spec.from.event, ...(spec.from.key !== undefined ? { key: spec.from.key } : {}) };
    return { kind: 'filter', name, emit, inputs: [input], ...(spec.filter !== undefined ? { filter: spec.filter } : {}) };
  }
  throw invalid(name, 'needs `join`, `aggregate`, or `from`');
}

function windowModel(stream: string, window: NonNullable<Document.StreamDefinition['aggregate']>['window']): WindowModel {
  if (window.tumbling !== undefined) return { kind: 'tumbling', sizeMs: positive(stream, window.tumbling, 'window.tumbling') };
  if (window.hopping !== undefined) {
    const sizeMs = positive(stream, window.hopping, 'window.hopping');
    const advanceMs = positive(stream, window.advance, 'window.advance');
    if (advanceMs > sizeMs) throw invalid(stream, '`advance` is longer than the hopping window: some records would fall in no window');
    return { kind: 'hopping', sizeMs, advanceMs };
  }
  if (window.session !== undefined) return { kind: 'session', gapMs: positive(stream, window.session, 'window.session') };
  throw invalid(stream, 'a window needs one of tumbling, hopping or session');
}

function duration(stream: string, value: unknown, field: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw invalid(stream, `\`${field}\` is not a duration`);
  return ms;
}

function positive(stream: string, value: unknown, field: string): number {
  const ms = duration(stream, value, field);
  if (ms <= 0) throw invalid(stream, `\`${field}\` must be longer than 0`);
  return ms;
}

function invalid(stream: string, problem: string): EdaflowError {
  return new EdaflowError('EDA_STARTUP', `stream ${stream}: ${problem}`);
}
