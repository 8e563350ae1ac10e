import type { WindowModel } from './model.js';

/** A time window [start, end): start inclusive, end exclusive, in epoch milliseconds. */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * The tumbling or hopping windows a record at `time` falls in, earliest first. Windows are aligned to
 * the epoch (a 1h window starts on the hour), as Kafka Streams aligns them.
 */
export function windowsOf(window: Exclude<WindowModel, { kind: 'session' }>, time: number): TimeWindow[] {
  const advance = window.kind === 'tumbling' ? window.sizeMs : window.advanceMs;
  const windows: TimeWindow[] = [];
  for (let start = Math.floor(time / advance) * advance; start + window.sizeMs > time; start -= advance) windows.push({ start, end: start + window.sizeMs });
  return windows.reverse();
}

/** A session of one key: records no more than `gap` apart, from the first record's time to the last's (both inclusive). */
export interface Session<T> {
  readonly start: number;
  readonly end: number;
  readonly members: readonly T[];
}

/** Splits time-ordered records into sessions: a new session starts after a silence longer than `gapMs`. */
export function sessionsOf<T extends { readonly time: number }>(ordered: readonly T[], gapMs: number): Session<T>[] {
  const sessions: { start: number; end: number; members: T[] }[] = [];
  for (const record of ordered) {
    const current = sessions.at(-1);
    if (current && record.time - current.end <= gapMs) {
      current.members.push(record);
      current.end = Math.max(current.end, record.time);
    } else {
      sessions.push({ start: record.time, end: record.time, members: [record] });
    }
  }
  return sessions;
}
