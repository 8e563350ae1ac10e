import { describe, namedMap, object, ref, stringEnum } from './builders.js';

const input = object('An input stream of one event type.', { event: ref('eventName'), key: describe(ref('selector'), 'The join key.') }, { required: ['event'] });

const window = object('Exactly one of tumbling, hopping (with advance) or session.', {
  tumbling: describe(ref('duration'), 'Fixed, non-overlapping windows of this size.'),
  hopping: describe(ref('duration'), 'Overlapping windows of this size...'),
  advance: describe(ref('duration'), '...starting every `advance`.'),
  session: describe(ref('duration'), 'Windows that close after this much inactivity per key; sessions merge.'),
  grace: describe(ref('duration'), 'How long after a window ends late records are still accepted.'),
});

export const streams = namedMap('Event-time stream processing: joins, windowed aggregations, filters.', 'message-name', object('A stream: one of `join`, `aggregate`, or `from` with `filter`.', {
  join: object('A windowed stream-stream join.', {
    left: { ...input, required: ['event', 'key'] },
    right: { ...input, required: ['event', 'key'] },
    within: describe(ref('duration'), 'Largest |left.time - right.time| of a pair.'),
    grace: describe(ref('duration'), 'Lateness tolerated before a window closes.'),
    type: stringEnum('inner, left or outer.', ['inner', 'left', 'outer']),
  }, { required: ['left', 'right', 'within'] }),
  aggregate: object('A windowed aggregation.', {
    from: input,
    groupBy: ref('selector'),
    window,
    init: { ...ref('templateObject'), description: 'The state of a new window.' },
    reduce: { ...ref('templateObject'), description: 'Merged into the window state for each record (`state`, `event`).' },
  }, { required: ['from', 'groupBy', 'window', 'init', 'reduce'] }),
  from: input,
  filter: describe(ref('selector'), 'Keep records for which this is true.'),
  emit: ref('emit'),
  alerts: ref('alerts'),
  description: ref('description'),
}, { required: ['emit'] }), 'Streams');
