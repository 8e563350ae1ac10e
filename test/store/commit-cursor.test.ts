import { describe, expect, it } from 'vitest';
import { advance, forgetEnded, lateFromJson, lateToJson, parseSnapshot, START } from '../../runtime/store/commit-cursor.js';

describe('the commit-order cursor (postgres broker partitions, the event store log)', () => {
  it('parses a snapshot, running transactions ascending', () => {
    expect(parseSnapshot('100:120:')).toEqual({ xmax: 120n, running: [] });
    expect(parseSnapshot('100:120:115,100,107')).toEqual({ xmax: 120n, running: [100n, 107n, 115n] });
    expect(() => parseSnapshot('nonsense')).toThrow(/not a snapshot/);
  });

  it('remembers the transactions running below each row it passes, and only those', () => {
    const snapshot = parseSnapshot('100:130:100,107,125');
    const first = advance(START, { transactionId: '105', position: '9' }, snapshot);
    expect(first).toEqual({ transactionId: '105', position: '9', late: new Map([['100', '0']]) });
    const second = advance(first, { transactionId: '110', position: '12' }, snapshot);
    expect(second.late).toEqual(new Map([['100', '0'], ['107', '0']]));
    expect(first.late).toEqual(new Map([['100', '0']])); // earlier cursors are not changed: they may still be saved
  });

  it('reads a late transaction’s rows without moving the cursor, then forgets it once it has ended', () => {
    const cursor = { transactionId: '110', position: '12', late: new Map([['100', '0'], ['107', '0']]) };
    const read = advance(cursor, { transactionId: '100', position: '3' }, parseSnapshot('107:140:107'));
    expect(read).toEqual({ transactionId: '110', position: '12', late: new Map([['100', '3'], ['107', '0']]) });
    const afterwards = forgetEnded(read, parseSnapshot('107:140:107'));
    expect(afterwards.late).toEqual(new Map([['107', '0']]));
    expect(forgetEnded(afterwards, parseSnapshot('107:140:107'))).toBe(afterwards);
  });

  it('stores late transactions as JSON and reads them back', () => {
    const late = new Map([['100', '3'], ['107', '0']]);
    expect(lateFromJson(JSON.parse(lateToJson(late)))).toEqual(late);
    expect(lateFromJson(lateToJson(late))).toEqual(late);
    expect(lateFromJson(null)).toEqual(new Map());
  });
});
