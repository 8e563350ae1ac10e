import { PATTERNS } from './patterns.js';
import { describe, listOf, namedMap, object, ref, type JsonSchema } from './builders.js';

const upcast = object('Turns data of the previous version into data of this one. Either `set`/`remove` or a typed `handler`.', {
  set: { ...ref('templateObject'), description: 'Properties to set; values are templates over the old data ("{% address %}").' },
  remove: listOf('Top-level properties to remove.', { type: 'string', minLength: 1 }),
  handler: describe(ref('codeName'), 'A typed upcaster function in the handlers module.'),
});

const version = object('One version of an event\'s data.', {
  schema: ref('jsonSchema'),
  examples: listOf('Valid data; `validate` checks them and runs them through the upcasters.', {}),
  upcast,
  description: ref('description'),
}, { required: ['schema'] });

export const events = namedMap('Events: facts that happened, versioned.', 'message-name', object('An event.', {
  topic: ref('destinationName'),
  description: ref('description'),
  versions: {
    type: 'object',
    description: 'Versions 1..n with no gaps. Publishing uses the latest; consumers see the latest (older data is upcast on read).',
    propertyNames: { pattern: PATTERNS.version },
    additionalProperties: version,
    minProperties: 1,
  },
}, { required: ['topic', 'versions'] }), 'Events');

export const commands = namedMap('Commands: requests to do something.', 'message-name', object('A command.', {
  queue: describe(ref('destinationName'), 'Route the command over this queue; without it, it is handled in-process.'),
  schema: ref('jsonSchema'),
  examples: listOf('Valid data, checked by `validate`.', {}),
  roles: ref('roles'),
  description: ref('description'),
}, { required: ['schema'] }), 'Commands');

export const emitSpec: JsonSchema = {
  description: 'An event name (data defaults to the command\'s data), an `{ event, data }`, or a list of them.',
  anyOf: [ref('eventName'), ref('emit'), { type: 'array', minItems: 1, items: { anyOf: [ref('eventName'), ref('emit')] } }],
};
