import { PATTERNS } from './patterns.js';
import { describe, integer, listOf, namedMap, object, oneOrMany, ref, string, stringEnum, type JsonSchema } from './builders.js';
import { emitSpec } from './messages.js';

export const aggregates = namedMap('Event-sourced aggregates: the write side of CQRS.', 'message-name', object('An aggregate.', {
  streamId: describe(ref('selector'), 'The stream a command addresses, from the command envelope.', ['command.orderId']),
  snapshotEvery: integer('Store a snapshot every this many events.', 1),
  initial: { ...ref('templateObject'), description: 'The state before the first event.' },
  evolve: {
    type: 'object',
    description: 'Per event: a template merged into the state.',
    propertyNames: { pattern: PATTERNS['message-name'] },
    additionalProperties: ref('templateObject'),
  },
  handle: {
    type: 'object',
    description: 'Per command: a guard and the events it emits, or a typed decider.',
    propertyNames: { pattern: PATTERNS['message-name'] },
    additionalProperties: object('How a command is decided.', {
      when: describe(ref('selector'), 'Guard over `state` and `command`; when false the command is rejected (HTTP 409).'),
      reject: string('The rejection message when `when` is false.'),
      emit: emitSpec,
      handler: describe(ref('codeName'), 'A typed decide(command, state) => events function.'),
    }),
  },
  alerts: describe(ref('alerts'), 'Alert thresholds of the consumers of its commands\' queues.'),
  description: ref('description'),
}, { required: ['streamId', 'initial', 'handle'] }), 'Aggregates');

export const handlers = namedMap('Your code reacting to messages (choreography).', 'code-name', object('A handler.', {
  on: oneOrMany('Event and command types it handles.', ref('messageName')),
  from: describe(ref('destinationName'), 'Topic or queue to consume (default: that of the first `on` type).'),
  group: string('Consumer group (default: the handler name).'),
  emits: listOf('Events it may emit.', ref('eventName')),
  sends: listOf('Commands it may send.', ref('commandName')),
  concurrency: integer('Messages handled at once.', 1),
  timeout: describe(ref('duration'), 'An attempt taking longer fails.'),
  retry: ref('retry'),
  idempotency: object('Skip repeated messages with the same key.', {
    key: describe(ref('selector'), 'The idempotency key (default: id).'),
    ttl: describe(ref('duration'), 'How long a processed key is remembered.'),
  }),
  alerts: ref('alerts'),
  description: ref('description'),
}, { required: ['on'] }), 'Handlers');

const action: JsonSchema = {
  description: 'An action: send a command, emit an event, invoke an activity, or assign to the context.',
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  properties: {
    send: ref('send'),
    emit: ref('emit'),
    invoke: ref('codeName'),
    assign: ref('templateObject'),
  },
  additionalProperties: false,
};

const transitionObject = object('A transition.', {
  target: string('The state to go to (none: stay).'),
  when: describe(ref('selector'), 'Guard over `context` and the event.'),
  assign: { ...ref('templateObject'), description: 'Merged into the context.' },
  actions: listOf('Actions to run.', action),
});
const transition: JsonSchema = {
  description: 'A target state name, a transition, or guarded alternatives tried in order.',
  anyOf: [{ type: 'string' }, transitionObject, { type: 'array', minItems: 1, items: { anyOf: [{ type: 'string' }, transitionObject] } }],
};

const stateNode = object('A state.', {
  type: stringEnum('`final` ends the saga.', ['atomic', 'final']),
  entry: listOf('Actions on entering.', action),
  exit: listOf('Actions on leaving.', action),
  on: { type: 'object', description: 'Per event: the transition.', additionalProperties: transition },
  after: { type: 'object', description: 'Durable timeouts: per duration, the transition.', propertyNames: { pattern: PATTERNS['duration'] }, additionalProperties: transition },
  always: transition,
  description: ref('description'),
});

const step = object('A saga step: one of send (optionally awaiting a reply), invoke or emit.', {
  name: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'Step name, unique in the saga.'),
  send: ref('send'),
  await: object('The replies to wait for.', {
    success: oneOrMany('Events that complete the step.', ref('eventName')),
    failure: oneOrMany('Events that fail the step.', ref('eventName')),
    timeout: describe(ref('duration'), 'Fail the step when no reply arrives in time.'),
  }, { required: ['success'] }),
  invoke: describe(ref('codeName'), 'A typed activity; its result lands in context.<step name>.'),
  emit: ref('emit'),
  retry: ref('retry'),
  timeout: describe(ref('duration'), 'Deadline for the step.'),
  compensate: {
    description: 'Undoes the step when a later one fails: a command to send or an activity to invoke.',
    ...object('Compensation.', { send: ref('send'), invoke: ref('codeName') }),
    minProperties: 1,
    maxProperties: 1,
  },
  description: ref('description'),
}, { required: ['name'] });

export const sagas = namedMap('Long-running processes run as XState v5 machines.', 'message-name', object('A saga.', {
  startedBy: oneOrMany('Events that start an instance.', ref('eventName')),
  correlate: {
    type: 'object',
    description: 'Per event: the expression giving the instance it belongs to (default: its correlationid).',
    propertyNames: { pattern: PATTERNS['message-name'] },
    additionalProperties: ref('selector'),
  },
  context: { ...ref('templateObject'), description: 'The initial context, from the starting event.' },
  timeout: describe(ref('duration'), 'Whole-saga deadline: compensate, then fail.'),
  steps: listOf('Sequential steps, compiled to a machine.', step, 1),
  machine: object('An explicit state machine (XState keys).', {
    initial: string('The first state.'),
    states: { type: 'object', description: 'The states by name.', additionalProperties: stateNode, minProperties: 1 },
  }, { required: ['initial', 'states'] }),
  alerts: ref('alerts'),
  description: ref('description'),
}, { required: ['startedBy'] }), 'Sagas');
