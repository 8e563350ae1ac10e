import { IMPLICIT_BROKER } from '../model.js';
import type { Entry } from '../merge.js';
import type { Path } from '../source.js';
import { CheckContext, isObject, namesAt } from './context.js';

/** Every name that refers to another definition must exist. */
export function checkReferences(ctx: CheckContext): void {
  checkBrokerReferences(ctx);
  for (const event of ctx.sound('events')) ctx.expect(event.spec['topic'], ['topics'], 'EDA_UNKNOWN_TOPIC', event, ['topic']);
  for (const command of ctx.sound('commands')) {
    if (command.spec['queue'] !== undefined) ctx.expect(command.spec['queue'], ['queues'], 'EDA_UNKNOWN_QUEUE', command, ['queue']);
  }
  for (const handler of ctx.sound('handlers')) checkHandler(ctx, handler);
  for (const aggregate of ctx.sound('aggregates')) checkAggregate(ctx, aggregate);
  for (const stream of ctx.sound('streams')) checkStream(ctx, stream);
}

function checkBrokerReferences(ctx: CheckContext): void {
  const brokerNames = [...ctx.merged.sections.brokers.keys()];
  const expectBroker = (name: unknown, entry: Entry<unknown>, path: Path): void => {
    if (typeof name !== 'string') return;
    if (brokerNames.length === 0 && name === IMPLICIT_BROKER) return;
    ctx.expect(name, ['brokers'], 'EDA_UNKNOWN_BROKER', entry, path);
  };
  for (const section of ['topics', 'queues'] as const) {
    for (const entry of ctx.sound(section)) expectBroker(entry.spec['broker'], entry, ['broker']);
  }
  const defaultBroker = ctx.merged.settings.defaults.get('broker');
  if (defaultBroker) expectBroker(defaultBroker.spec, defaultBroker, []);
}

function checkHandler(ctx: CheckContext, handler: Entry): void {
  for (const { name, path } of namesAt(handler.spec['on'], ['on'])) ctx.expect(name, ['events', 'commands'], 'EDA_UNKNOWN_MESSAGE', handler, path);
  if (handler.spec['from'] !== undefined) ctx.expect(handler.spec['from'], ['topics', 'queues'], 'EDA_UNKNOWN_DESTINATION', handler, ['from']);
  for (const { name, path } of namesAt(handler.spec['emits'], ['emits'])) ctx.expect(name, ['events'], 'EDA_UNKNOWN_EVENT', handler, path);
  for (const { name, path } of namesAt(handler.spec['sends'], ['sends'])) ctx.expect(name, ['commands'], 'EDA_UNKNOWN_COMMAND', handler, path);
}

function checkAggregate(ctx: CheckContext, aggregate: Entry): void {
  const evolve = aggregate.spec['evolve'];
  if (isObject(evolve)) for (const event of Object.keys(evolve)) ctx.expect(event, ['events'], 'EDA_UNKNOWN_EVENT', aggregate, ['evolve', event], 'key');
  const handle = aggregate.spec['handle'];
  if (!isObject(handle)) return;
  for (const [command, decision] of Object.entries(handle)) {
    ctx.expect(command, ['commands'], 'EDA_UNKNOWN_COMMAND', aggregate, ['handle', command], 'key');
    if (isObject(decision)) checkEmit(ctx, aggregate, decision['emit'], ['handle', command, 'emit']);
  }
}

/** `emit: Name`, `emit: { event }` or a list of either. */
export function checkEmit(ctx: CheckContext, entry: Entry, emit: unknown, path: Path): void {
  if (typeof emit === 'string') ctx.expect(emit, ['events'], 'EDA_UNKNOWN_EVENT', entry, path);
  else if (isObject(emit)) ctx.expect(emit['event'], ['events'], 'EDA_UNKNOWN_EVENT', entry, [...path, 'event']);
  else if (Array.isArray(emit)) emit.forEach((item, i) => checkEmit(ctx, entry, item, [...path, i]));
}

function checkStream(ctx: CheckContext, stream: Entry): void {
  const join = stream.spec['join'];
  if (isObject(join)) {
    for (const side of ['left', 'right']) {
      const input = join[side];
      if (isObject(input)) ctx.expect(input['event'], ['events'], 'EDA_UNKNOWN_EVENT', stream, ['join', side, 'event']);
    }
  }
  const aggregate = stream.spec['aggregate'];
  if (isObject(aggregate) && isObject(aggregate['from'])) ctx.expect(aggregate['from']['event'], ['events'], 'EDA_UNKNOWN_EVENT', stream, ['aggregate', 'from', 'event']);
  const from = stream.spec['from'];
  if (isObject(from)) ctx.expect(from['event'], ['events'], 'EDA_UNKNOWN_EVENT', stream, ['from', 'event']);
  checkEmit(ctx, stream, stream.spec['emit'], ['emit']);
}
