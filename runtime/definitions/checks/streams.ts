import { CheckContext, isObject } from './context.js';

const WINDOW_KINDS = ['tumbling', 'hopping', 'session'] as const;

export function checkStreams(ctx: CheckContext): void {
  for (const stream of ctx.sound('streams')) {
    const forms = [stream.spec['join'] !== undefined && 'join', stream.spec['aggregate'] !== undefined && 'aggregate', stream.spec['from'] !== undefined && 'from'].filter(Boolean);
    const filterWithoutFrom = stream.spec['filter'] !== undefined && stream.spec['from'] === undefined;
    // With no form at all but a `filter`, the `filter` report below says what is missing: one mistake, one error.
    if (forms.length > 1 || (forms.length === 0 && !filterWithoutFrom)) {
      ctx.report('EDA_STREAM_FORM', forms.length ? `stream "${stream.name}" has ${forms.join(' and ')}: keep exactly one` : `stream "${stream.name}" needs \`join\`, \`aggregate\`, or \`from\` with \`filter\``, stream, [], 'key');
    }
    if (filterWithoutFrom) {
      ctx.report('EDA_STREAM_FORM', '`filter` applies to a `from` input; add `from: { event: ... }`', stream, ['filter'], 'key');
    }
    const aggregate = stream.spec['aggregate'];
    const window = isObject(aggregate) ? aggregate['window'] : undefined;
    if (!isObject(window)) continue;
    const kinds = WINDOW_KINDS.filter((kind) => window[kind] !== undefined);
    const path = ['aggregate', 'window'];
    if (kinds.length !== 1) {
      ctx.report('EDA_WINDOW_KINDS', kinds.length ? `a window is one kind; this one is ${kinds.join(' and ')}` : 'a window needs one of tumbling, hopping or session', stream, path, 'key');
    }
    if (window['advance'] !== undefined && window['hopping'] === undefined) ctx.report('EDA_WINDOW_KINDS', '`advance` belongs to a hopping window', stream, [...path, 'advance'], 'key');
    if (window['hopping'] !== undefined && window['advance'] === undefined) ctx.report('EDA_WINDOW_KINDS', 'a hopping window needs `advance`', stream, [...path, 'hopping'], 'key');
  }
}
