import { PATTERNS } from './patterns.js';
import { boolean, describe, integer, listOf, namedMap, object, ref, string, stringEnum, type JsonSchema } from './builders.js';

/** A mapping whose `type` picks one of several closed shapes (if/then keeps ajv's errors about the chosen one). */
function byType(description: string, shapes: Record<string, JsonSchema>): JsonSchema {
  return {
    type: 'object',
    description,
    required: ['type'],
    properties: { type: stringEnum('The kind.', Object.keys(shapes)) },
    allOf: Object.entries(shapes).map(([type, shape]) => ({ if: { properties: { type: { const: type } }, required: ['type'] }, then: shape })),
  };
}

const typeConst = (type: string): JsonSchema => ({ const: type, description: 'The kind.' });
const tls = describe(
  { anyOf: [{ type: 'boolean' }, object('TLS settings.', { ca: string('CA certificate (PEM).'), cert: string('Client certificate (PEM).'), key: string('Client key (PEM).'), rejectUnauthorized: boolean('Verify the server certificate (default true).') })] },
  'Use TLS; `true` for the system CAs, or explicit certificates.',
);

const brokerShapes: Record<string, JsonSchema> = {
  kafka: object('Apache Kafka (or a compatible server such as Redpanda).', {
    type: typeConst('kafka'),
    brokers: listOf('Bootstrap servers, host:port.', { type: 'string', minLength: 1 }, 1),
    clientId: string('Client id sent to the brokers.'),
    ssl: tls,
    sasl: object('SASL authentication.', {
      mechanism: stringEnum('SASL mechanism.', ['plain', 'scram-sha-256', 'scram-sha-512']),
      username: string('User name.'),
      password: string('Password; use ${ENV}.'),
    }, { required: ['mechanism', 'username', 'password'] }),
    fetch: object('How consumers fetch: latency against CPU per message under load.', {
      minBytes: integer('Kafka\'s fetch.min.bytes: the broker holds a fetch until this many bytes are there or `maxWait` has passed. Default 1: answer as soon as anything is. More fetches in bulk under load, for less CPU per message, and makes a quiet topic\'s messages wait up to `maxWait`.', 1, [65536]),
      maxWait: describe(ref('duration'), 'Kafka\'s fetch.max.wait.ms: how long the broker holds a fetch with less than `minBytes`; also how soon an idle consumer notices a rebalance or a stop. Default 1s.', ['100ms']),
    }),
  }, { required: ['type', 'brokers'] }),
  rabbitmq: object('RabbitMQ over AMQP 0-9-1.', {
    type: typeConst('rabbitmq'),
    url: string('amqp:// or amqps:// URL, credentials included.', ['amqp://guest:guest@127.0.0.1:5672']),
    exchange: string('Exchange prefix for topics (default: the topic name).'),
    tls,
  }, { required: ['type', 'url'] }),
  nats: object('NATS with JetStream.', {
    type: typeConst('nats'),
    servers: listOf('Server addresses.', { type: 'string', minLength: 1 }, 1),
    user: string('User name.'),
    pass: string('Password; use ${ENV}.'),
    token: string('Authentication token; use ${ENV}.'),
    tls,
  }, { required: ['type', 'servers'] }),
  sqs: object('Amazon SQS (queues only) or a compatible server.', {
    type: typeConst('sqs'),
    region: string('AWS region.', ['us-east-1']),
    endpoint: string('Endpoint URL for a compatible server; empty for AWS.'),
    accessKeyId: string('Access key id; default: the AWS credential chain.'),
    secretAccessKey: string('Secret access key; use ${ENV}.'),
  }, { required: ['type', 'region'] }),
  postgres: object('Topics and queues as tables in the `database` store (the default broker).', {
    type: typeConst('postgres'),
    pollInterval: describe(ref('duration'), 'Polling fallback when LISTEN/NOTIFY wake-ups are missed.'),
  }, { required: ['type'] }),
  memory: object('In-process; nothing survives a restart.', { type: typeConst('memory') }, { required: ['type'] }),
};

export const BROKER_TYPES = Object.keys(brokerShapes);

export const brokers = namedMap('Message brokers, by name. With none, an implicit `postgres` broker on the `database` store is used.', 'code-name', byType('A broker connection.', brokerShapes), 'Brokers');

export const stores = object('Where state lives. With none, `database` is embedded (PGlite, on disk) and `cache` is in memory.', {
  database: byType('The database for the event store, outbox, saga instances, timers, projections and stream state.', {
    postgres: object('A PostgreSQL server.', { type: typeConst('postgres'), url: string('postgres:// URL.', ['${DATABASE_URL}']), schema: string('Schema for edaflow\'s tables (default: public).') }, { required: ['type', 'url'] }),
    embedded: object('An embedded PostgreSQL (PGlite) in a directory.', { type: typeConst('embedded'), path: string('Directory of the database files.', ['.edaflow/db']) }, { required: ['type'] }),
  }),
  cache: byType('Where idempotency keys and consumer dedup live.', {
    redis: object('A Redis server.', { type: typeConst('redis'), url: string('redis:// URL.', ['${REDIS_URL}']), keyPrefix: string('Prefix for every key.') }, { required: ['type', 'url'] }),
    memory: object('In process memory.', { type: typeConst('memory') }, { required: ['type'] }),
  }),
}, { title: 'Stores' });

export const defaults = object('Defaults for everything below.', {
  broker: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'The broker of topics and queues that name none.'),
  source: string('The CloudEvents `source` of messages this application emits.', ['shop']),
  retry: ref('retry'),
  idempotency: object('Idempotency defaults.', { ttl: describe(ref('duration'), 'How long a processed key is remembered.') }),
  payloadLimit: integer('Largest accepted payload in bytes (HTTP bodies, and messages of topics and queues without `maxPayload`); default 1 MB.', 1),
  alerts: object('Alert thresholds of every handler, aggregate queue, projection, saga and stream that sets none of its own, and how often they are checked.', {
    lagAbove: integer('Default of `alerts.lagAbove`.', 0, [1000]),
    errorRateAbove: describe({ type: 'number', minimum: 0, maximum: 1 }, 'Default of `alerts.errorRateAbove` (a fraction of the last 5 minutes\' deliveries).', [0.05]),
    deadLettersAbove: integer('Default of `alerts.deadLettersAbove`.', 0, [100]),
    checkEvery: describe(ref('duration'), 'How often lag, dead-letter sizes and error rates are measured and compared (default 30s).', ['30s']),
  }, { examples: [{ lagAbove: 1000, errorRateAbove: 0.05, checkEvery: '30s' }] }),
}, { title: 'Defaults' });

/** Key material by key id: values come from the environment (`${NAME}`), never written in the file. */
const keyMap = (description: string, value: JsonSchema): JsonSchema => ({
  type: 'object',
  description,
  propertyNames: { pattern: PATTERNS['code-name'] },
  additionalProperties: value,
  minProperties: 1,
});
const secret = string('Key material, from the environment: `${NAME}` (base64 or hex).', ['${ORDERS_KEY_2}']);

/** Message security of a topic or queue (runtime/security): payload encryption and signatures; `$defs/messageSecurity`. */
export const messageSecurity = object('Message security: payloads encrypted (AES-256-GCM) and/or signed (HMAC-SHA256 or Ed25519). A message that fails is dead-lettered with reason `rejected` and never reaches a handler.', {
  encrypt: object('Encrypt each payload with AES-256-GCM; the key id travels with the message, so old keys still decrypt after a rotation.', {
    current: string('Key id new messages are encrypted with.', ['k2']),
    keys: keyMap('32-byte keys by key id: the current one and older ones kept to decrypt messages in flight.', secret),
    keyProvider: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'A function exported by the handlers module returning `{ current, keys: { id: key } }` instead of `keys`.'),
  }),
  sign: object('Sign each message; unsigned, tampered or replayed messages are rejected.', {
    algorithm: stringEnum('Signature algorithm (default hmac-sha256).', ['hmac-sha256', 'ed25519']),
    current: string('Key id new messages are signed with.', ['s1']),
    keys: keyMap('Keys by key id. hmac-sha256: a secret of at least 32 bytes. ed25519: `{ publicKey, privateKey }` (PEM or base64 raw 32 bytes); a consumer needs only `publicKey`.', {
      anyOf: [secret, object('An Ed25519 key pair.', { publicKey: string('Public key (PEM or base64 raw), for verifying.'), privateKey: string('Private key (PEM or base64 raw), for signing; use ${ENV}.') })],
    }),
    keyProvider: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'A function exported by the handlers module returning `{ current, keys }` instead of `keys`.'),
    maxAge: describe(ref('duration'), 'A signed message older than this (by its signed seal time) is rejected, and one already handled within it is a replay (default 24h).'),
  }),
}, { title: 'MessageSecurity' });
const security = ref('messageSecurity');

export const topics = namedMap('Publish/subscribe destinations: every consumer group gets every message, in key order per key.', 'destination-name', object('A topic.', {
  broker: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'The broker (default: defaults.broker).'),
  partitions: integer('Partitions (Kafka) or parallel lanes.', 1),
  retention: describe(ref('duration'), 'How long messages are kept.'),
  key: describe(ref('selector'), 'Ordering key of each message (default: subject).'),
  maxPayload: integer('Largest accepted message body in bytes; a larger one is dead-lettered unread (default: defaults.payloadLimit, 1 MB).', 1),
  security,
  description: ref('description'),
}), 'Topics');

export const queues = namedMap('Point-to-point destinations: competing consumers.', 'destination-name', object('A queue.', {
  broker: describe({ type: 'string', pattern: PATTERNS['code-name'] }, 'The broker (default: defaults.broker).'),
  messageTtl: describe(ref('duration'), 'Messages older than this are dead-lettered unprocessed.'),
  prefetch: integer('Messages a consumer holds unacknowledged at once.', 1),
  retry: ref('retry'),
  deadLetter: {
    description: 'Where exhausted messages go (default `<name>.dlq`); `false` turns dead-lettering off.',
    anyOf: [
      { const: false },
      object('The dead-letter queue.', {
        queue: ref('destinationName'),
        alertAbove: integer('Raise an alert (log and metric) when the DLQ holds more messages than this.', 0),
      }),
    ],
  },
  maxPayload: integer('Largest accepted message body in bytes; a larger one is dead-lettered unread (default: defaults.payloadLimit, 1 MB).', 1),
  security,
  description: ref('description'),
}), 'Queues');
