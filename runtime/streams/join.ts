import { deterministicId, type Envelope } from '../envelope/index.js';
import { DueQueue } from './due-queue.js';
import type { InputModel, JoinModel, Side } from './model.js';
import type { StreamProcessor, StreamSnapshot } from './processor.js';
import { bufferIdOf, byTimeThenId, dropped, emitEnvelope, evaluateKey, eventTime, type StepResult, type StreamRecord } from './record.js';

/**
 * A windowed stream-stream join (inner, left or outer), with these rules:
 * - A left and a right record with the same key match when |left.time − right.time| ≤ `within`. The
 *   pair is emitted once, when the second of the two arrives, stamped with the later time, whatever
 *   the arrival order. Each record waits in a buffer for partners.
 * - A record is late, dropped and counted, when it is older than stream time − `grace`.
 * - A record's window closes when stream time passes its time + `within` + `grace`: by then every
 *   partner it could have would be late. It leaves the buffer then; a left (left join) or any (outer
 *   join) record that never matched is emitted alone at that moment, with null for the other side.
 * - A record with a null, missing or empty key is dropped and counted, and does not move stream time.
 */
export class JoinProcessor implements StreamProcessor {
  streamTime: number | undefined;
  private readonly records = new Map<string, StreamRecord>();
  private readonly byKey: Record<'left' | 'right', Map<string, StreamRecord[]>> = { left: new Map(), right: new Map() };
  /** Records by the stream time after which their window is closed. */
  private readonly closing = new DueQueue<StreamRecord>();

  constructor(
    readonly model: JoinModel,
    snapshot: StreamSnapshot,
  ) {
    this.streamTime = snapshot.streamTime;
    for (const record of [...snapshot.records].sort(byTimeThenId)) this.keep(record);
  }

  get buffered(): number {
    return this.records.size;
  }

  async step(envelope: Envelope): Promise<StepResult> {
    const inputs = this.model.inputs.filter((input) => input.event === envelope.type);
    if (inputs.length === 1) return this.stepSide(inputs[0]!, envelope);
    // A self-join: the message is a record of each side, handled one side after the other.
    const results: StepResult[] = [];
    for (const input of inputs) results.push(await this.stepSide(input, envelope));
    return mergeResults(this.streamTime, results);
  }

  private async stepSide(input: InputModel, envelope: Envelope): Promise<StepResult> {
    const { model } = this;
    const time = eventTime(envelope);
    if (time === undefined) return dropped(this.streamTime, 'no-time');
    const key = await evaluateKey(input.key!, envelope);
    if (key === undefined) return dropped(this.streamTime, 'no-key');
    const side = input.side as 'left' | 'right';
    const bufferId = bufferIdOf(side, envelope);
    if (this.records.has(bufferId)) return dropped(this.streamTime, 'duplicate');
    if (this.streamTime !== undefined && time < this.streamTime - model.graceMs) return dropped(this.streamTime, 'late');
    const streamTime = Math.max(this.streamTime ?? time, time);

    const partners = (this.byKey[side === 'left' ? 'right' : 'left'].get(key) ?? []).filter((other) => Math.abs(other.time - time) <= model.withinMs).sort(byTimeThenId);
    const record: StreamRecord = { bufferId, side, key, time, envelope, matched: partners.length > 0 };
    const outputs: Envelope[] = [];
    for (const partner of partners) outputs.push(await this.pair(side === 'left' ? record : partner, side === 'left' ? partner : record, key));
    // Closed windows: a record that closes here cannot be among the partners (it is more than `within` older).
    const closed = [...this.closing.due(streamTime, false)];
    for (const expired of closed.filter((candidate) => !candidate.matched && this.emitsUnmatched(candidate.side)).sort(byTimeThenId)) outputs.push(await this.unmatched(expired));

    const newlyMatched = partners.filter((partner) => !partner.matched);
    this.keep(record);
    for (const partner of newlyMatched) partner.matched = true;
    this.closing.removeDue(streamTime, false);
    for (const expired of closed) this.forget(expired);
    this.streamTime = streamTime;
    return { streamTime, added: [record], matched: newlyMatched.map((partner) => partner.bufferId), removed: closed.map((expired) => expired.bufferId), outputs };
  }

  private emitsUnmatched(side: Side): boolean {
    return this.model.type === 'outer' || (this.model.type === 'left' && side === 'left');
  }

  private pair(left: StreamRecord, right: StreamRecord, key: string): Promise<Envelope> {
    const later = byTimeThenId(left, right) >= 0 ? left : right;
    return emitEnvelope(this.model.emit, {
      id: deterministicId(this.model.name, 'pair', left.envelope.id, right.envelope.id),
      time: later.time,
      subject: key,
      scope: { ...later.envelope, left: left.envelope, right: right.envelope, key },
      cause: later.envelope,
    });
  }

  private unmatched(record: StreamRecord): Promise<Envelope> {
    return emitEnvelope(this.model.emit, {
      id: deterministicId(this.model.name, record.side, record.envelope.id),
      time: record.time,
      subject: record.key,
      scope: { ...record.envelope, left: record.side === 'left' ? record.envelope : null, right: record.side === 'right' ? record.envelope : null, key: record.key },
      cause: record.envelope,
    });
  }

  private keep(record: StreamRecord): void {
    this.records.set(record.bufferId, record);
    const index = this.byKey[record.side as 'left' | 'right'];
    const list = index.get(record.key);
    if (list) list.push(record);
    else index.set(record.key, [record]);
    this.closing.add(record.time + this.model.withinMs + this.model.graceMs, record);
  }

  private forget(record: StreamRecord): void {
    this.records.delete(record.bufferId);
    const index = this.byKey[record.side as 'left' | 'right'];
    const remaining = (index.get(record.key) ?? []).filter((other) => other !== record);
    if (remaining.length) index.set(record.key, remaining);
    else index.delete(record.key);
  }
}

function mergeResults(streamTime: number | undefined, results: readonly StepResult[]): StepResult {
  const kept = results.filter((result) => !result.dropped);
  if (!kept.length) return results[0]!;
  return {
    streamTime,
    added: kept.flatMap((result) => result.added),
    matched: kept.flatMap((result) => result.matched),
    removed: kept.flatMap((result) => result.removed),
    outputs: kept.flatMap((result) => result.outputs),
  };
}
