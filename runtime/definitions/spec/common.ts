import { PATTERNS } from './patterns.js';
import { describe, integer, object, ref, stringEnum, string, type JsonSchema } from './builders.js';

export const commonDefinitions: Record<string, JsonSchema> = {
  duration: {
    description: 'A duration: 250ms, 30s, 5m, 2h, 7d, or a whole number of milliseconds.',
    anyOf: [{ type: 'string', pattern: PATTERNS['duration'] }, { type: 'integer', minimum: 0 }],
    examples: ['250ms', '30s', '5m', '2h', '7d'],
  },
  selector: describe(
    { type: 'string', minLength: 1 },
    'A bare JSONata expression evaluated against the message envelope (id, type, subject, time, data, ...).',
    ['subject', 'data.orderId'],
  ),
  template: {
    description: 'A template value: literals, except a string "{% expr %}", which is a JSONata expression. Objects and arrays nest.',
  },
  templateObject: { type: 'object', additionalProperties: true, description: 'An object template: each value is a literal or a "{% expr %}" string.' },
  eventName: describe({ type: 'string', pattern: PATTERNS['message-name'] }, 'The name of an event declared in `events`.', ['OrderCreated']),
  commandName: describe({ type: 'string', pattern: PATTERNS['message-name'] }, 'The name of a command declared in `commands`.', ['CancelOrder']),
  messageName: describe({ type: 'string', pattern: PATTERNS['message-name'] }, 'The name of an event or a command.'),
  codeName: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'The name of a typed function exported by the handlers module.', ['chargePayment']),
  destinationName: describe({ type: 'string', pattern: PATTERNS['destination-name'] }, 'A topic or queue name.', ['orders']),
  jsonSchema: {
    description: 'A JSON Schema (draft 2020-12), inline or `{ $ref: ./file.json }` relative to this file.',
    type: ['object', 'boolean'],
    additionalProperties: true,
  },
  retry: object(
    'How often and how far apart a failed message or step is retried before it is dead-lettered or fails.',
    {
      attempts: integer('Total attempts, the first one included.', 1, [5]),
      backoff: stringEnum('How the delay grows between attempts.', ['fixed', 'linear', 'exponential']),
      delay: describe(ref('duration'), 'Delay before the first retry.'),
      maxDelay: describe(ref('duration'), 'Upper bound for any delay.'),
      jitter: { type: 'boolean', description: 'Randomise each delay (full jitter) so retries of many messages spread out.' },
    },
    { examples: [{ attempts: 5, backoff: 'exponential', delay: '200ms', maxDelay: '30s', jitter: true }] },
  ),
  emit: object(
    'An event to emit, with its data as a template (default: the data of the message being handled).',
    { event: ref('eventName'), data: ref('template') },
    { required: ['event'] },
  ),
  send: object(
    'A command to send, with its data as a template.',
    { command: ref('commandName'), data: ref('template') },
    { required: ['command'] },
  ),
  alerts: object(
    'Alert thresholds of what consumes messages. Crossing one logs a warning once (and an info when it clears) and sets `edaflow_alert_active{alert,subject}` to 1 while it lasts. Unset keys fall back to `defaults.alerts`; none set, no alert.',
    {
      lagAbove: integer('Alert when the consumer lag (messages its group has not consumed yet, from the broker\'s own numbers; for a projection fed by the event store, events it has not applied yet) exceeds this.', 0, [1000]),
      errorRateAbove: describe({ type: 'number', minimum: 0, maximum: 1 }, 'Alert when the share of deliveries that failed (retried or dead-lettered) among all deliveries of the last 5 minutes exceeds this fraction (0.05 = 5%).', [0.05]),
      deadLettersAbove: integer('Alert when the consumer\'s dead-letter destination holds more messages than this (a queue\'s own `deadLetter.alertAbove` takes precedence for that queue\'s DLQ).', 0, [100]),
    },
    { examples: [{ lagAbove: 1000, errorRateAbove: 0.05, deadLettersAbove: 100 }] },
  ),
  roles: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Roles allowed to call this over HTTP (any one suffices).' },
  description: string('Free text shown in docs and generated code.'),
};
