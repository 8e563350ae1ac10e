import { evaluateTemplate } from '../core/expressions.js';
import { deterministicId, type Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import { DueQueue } from './due-queue.js';
import type { AggregateModel } from './model.js';
import type { StreamProcessor, StreamSnapshot } from './processor.js';
import { bufferIdOf, byTimeThenId, dropped, emitEnvelope, evaluateKey, eventTime, type StepResult, type StreamRecord } from './record.js';
import { sessionsOf, windowsOf, type TimeWindow } from './windows.js';

interface OpenWindow extends TimeWindow {
  readonly id: string;
  readonly key: string;
  readonly members: StreamRecord[];
}

interface Closing {
  readonly key: string;
  readonly window: TimeWindow;
  readonly members: readonly StreamRecord[];
}

/**
 * A windowed aggregation per `groupBy` key, with these rules:
 * - Tumbling and hopping windows [start, end) are aligned to the epoch; a window closes when stream
 *   time reaches its end + `grace`. A record is added to each of its windows still open; one that
 *   finds none open is late, dropped and counted.
 * - Sessions: records of a key no more than the gap apart form one session (a record between two
 *   sessions merges them). A session closes when stream time passes its last record's time + gap +
 *   `grace`; a record older than stream time − `grace` is late.
 * - A window's result is emitted once, when it closes: `init`, then `reduce` merged into the state for
 *   each of its records in event-time order (ties by message id). The records, not a running state,
 *   are what the window keeps, so the result is the same whatever order the records came in, and
 *   merging sessions needs no merge function.
 * - A record with a null, missing or empty key is dropped and counted, and does not move stream time.
 */
export class AggregateProcessor implements StreamProcessor {
  streamTime: number | undefined;
  private readonly records = new Map<string, StreamRecord>();
  // Tumbling and hopping windows.
  private readonly windows = new Map<string, OpenWindow>();
  private readonly windowClosing = new DueQueue<OpenWindow>();
  private readonly recordClosing = new DueQueue<StreamRecord>();
  // Sessions: each key's records, and the keys by when one of their sessions may close.
  private readonly recordsByKey = new Map<string, StreamRecord[]>();
  private readonly sessionClosing = new DueQueue<string>();

  constructor(
    readonly model: AggregateModel,
    snapshot: StreamSnapshot,
  ) {
    this.streamTime = snapshot.streamTime;
    for (const record of [...snapshot.records].sort(byTimeThenId)) this.keep(record);
  }

  get buffered(): number {
    return this.records.size;
  }

  async step(envelope: Envelope): Promise<StepResult> {
    const { model } = this;
    const time = eventTime(envelope);
    if (time === undefined) return dropped(this.streamTime, 'no-time');
    const key = await evaluateKey(model.groupBy, envelope);
    if (key === undefined) return dropped(this.streamTime, 'no-key');
    const bufferId = bufferIdOf('input', envelope);
    if (this.records.has(bufferId)) return dropped(this.streamTime, 'duplicate');
    if (this.isLate(time)) return dropped(this.streamTime, 'late');
    const streamTime = Math.max(this.streamTime ?? time, time);
    const record: StreamRecord = { bufferId, side: 'input', key, time, envelope, matched: false };

    const closing: Closing[] = model.window.kind === 'session'
      ? this.closingSessions(streamTime, record)
      : [...this.windowClosing.due(streamTime, true)].map((open) => ({ key: open.key, window: { start: open.start, end: open.end }, members: open.members }));
    closing.sort((a, b) => a.window.end - b.window.end || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.window.start - b.window.start);
    const outputs: Envelope[] = [];
    for (const window of closing) outputs.push(await this.result(window));

    this.keep(record);
    const removed = model.window.kind === 'session' ? this.forgetSessions(streamTime, closing) : this.forgetWindows(streamTime);
    this.streamTime = streamTime;
    return { streamTime, added: [record], matched: [], removed, outputs };
  }

  private isLate(time: number): boolean {
    const { model, streamTime } = this;
    if (streamTime === undefined) return false;
    if (model.window.kind === 'session') return time < streamTime - model.graceMs;
    return !windowsOf(model.window, time).some((window) => streamTime < window.end + model.graceMs);
  }

  /** Sessions that close at `streamTime`, of the keys due then (the new record included, though it never closes its own session). */
  private closingSessions(streamTime: number, record: StreamRecord): Closing[] {
    const gapMs = (this.model.window as { gapMs: number }).gapMs;
    const keys = new Set(this.sessionClosing.due(streamTime, false));
    return [...keys].flatMap((key) => {
      const members = [...(this.recordsByKey.get(key) ?? []), ...(key === record.key ? [record] : [])].sort(byTimeThenId);
      return sessionsOf(members, gapMs)
        .filter((session) => session.end + gapMs + this.model.graceMs < streamTime)
        .map((session) => ({ key, window: { start: session.start, end: session.end }, members: session.members }));
    });
  }

  private async result(closing: Closing): Promise<Envelope> {
    const { model } = this;
    const { key, window } = closing;
    const windowScope = { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() };
    let state = asState(model.name, await evaluateTemplate(model.init, { key, window: windowScope }));
    const members = [...closing.members].sort(byTimeThenId);
    for (const member of members) {
      state = { ...state, ...asState(model.name, await evaluateTemplate(model.reduce, { ...member.envelope, event: member.envelope, state, key, window: windowScope })) };
    }
    return emitEnvelope(model.emit, {
      id: deterministicId(model.name, 'window', key, String(window.start), String(window.end)),
      time: members.at(-1)!.time,
      subject: key,
      scope: { key, window: windowScope, state },
      defaultData: state,
    });
  }

  private keep(record: StreamRecord): void {
    const { model } = this;
    this.records.set(record.bufferId, record);
    if (model.window.kind === 'session') {
      const members = this.recordsByKey.get(record.key);
      if (members) members.push(record);
      else this.recordsByKey.set(record.key, [record]);
      const session = sessionsOf([...(members ?? [record])].sort(byTimeThenId), model.window.gapMs).find((candidate) => candidate.members.includes(record))!;
      this.sessionClosing.add(session.end + model.window.gapMs + model.graceMs, record.key);
      return;
    }
    const windows = windowsOf(model.window, record.time).filter((window) => this.streamTime === undefined || this.streamTime < window.end + model.graceMs);
    for (const window of windows) this.windowOf(record.key, window).members.push(record);
    this.recordClosing.add(windows.at(-1)!.end + model.graceMs, record);
  }

  private windowOf(key: string, window: TimeWindow): OpenWindow {
    const id = `${key}\u0000${window.start}`;
    let open = this.windows.get(id);
    if (!open) {
      open = { id, key, start: window.start, end: window.end, members: [] };
      this.windows.set(id, open);
      this.windowClosing.add(window.end + this.model.graceMs, open);
    }
    return open;
  }

  /** Forgets closed windows, and the records none of whose windows is still open; returns their buffer ids. */
  private forgetWindows(streamTime: number): string[] {
    for (const window of this.windowClosing.due(streamTime, true)) this.windows.delete(window.id);
    this.windowClosing.removeDue(streamTime, true);
    const removed = [...this.recordClosing.due(streamTime, true)];
    this.recordClosing.removeDue(streamTime, true);
    for (const record of removed) this.records.delete(record.bufferId);
    return removed.map((record) => record.bufferId);
  }

  /** Forgets closed sessions and their records; returns their buffer ids. Every session still open has a later entry in `sessionClosing`. */
  private forgetSessions(streamTime: number, closed: readonly Closing[]): string[] {
    this.sessionClosing.removeDue(streamTime, false);
    const removed: string[] = [];
    for (const session of closed) {
      const gone = new Set(session.members);
      const remaining = (this.recordsByKey.get(session.key) ?? []).filter((record) => !gone.has(record));
      if (remaining.length) this.recordsByKey.set(session.key, remaining);
      else this.recordsByKey.delete(session.key);
      for (const record of session.members) {
        this.records.delete(record.bufferId);
        removed.push(record.bufferId);
      }
    }
    return removed;
  }
}

function asState(stream: string, value: unknown): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new EdaflowError('EDA_STREAM_EXPRESSION', `stream ${stream}: init and reduce must give an object, got ${JSON.stringify(value)}`);
}
