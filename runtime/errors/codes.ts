/**
 * Every error and diagnostic edaflow reports, in one table (Fastify's model): a stable code, a one-line
 * summary, whether retrying the same operation may succeed, and the HTTP status where one applies.
 * The docs page docs/errors.md is checked against this table by a test.
 */
export interface ErrorSpec {
  readonly summary: string;
  readonly retriable: boolean;
  readonly status?: number;
}

function spec(summary: string, options: { retriable?: boolean; status?: number } = {}): ErrorSpec {
  return { summary, retriable: options.retriable ?? false, ...(options.status ? { status: options.status } : {}) };
}

/** Problems found in definitions by `edaflow validate` (and refused by `run`). */
export const DIAGNOSTIC_CODES = {
  EDA_YAML_SYNTAX: spec('The file is not valid YAML.'),
  EDA_DUPLICATE_KEY: spec('A mapping repeats a key.'),
  EDA_NOT_A_MAPPING: spec('A definitions file must be a mapping of sections.'),
  EDA_LANGUAGE_VERSION: spec('`edaflow:` names a language version this release does not know.'),
  EDA_UNKNOWN_SECTION: spec('A top-level key is not one of the sections of the language.'),
  EDA_UNKNOWN_KEY: spec('A key is not part of the language at this place.'),
  EDA_MISSING_KEY: spec('A required key is missing.'),
  EDA_TYPE: spec('A value has the wrong type.'),
  EDA_ENUM: spec('A value is not one of the allowed values.'),
  EDA_INVALID_VALUE: spec('A value breaks a constraint of the language (range, length, form).'),
  EDA_INVALID_NAME: spec('A name cannot be used: names of messages, handlers and sagas become TypeScript identifiers.'),
  EDA_INVALID_DURATION: spec('A duration is not of the form 250ms, 30s, 5m, 2h, 7d or a whole number of milliseconds.'),
  EDA_DUPLICATE_NAME: spec('A name is defined twice in the same section.'),
  EDA_ENV_UNSET: spec('An environment variable is used with no value and no default.'),
  EDA_ENV_SYNTAX: spec('A `${...}` reference is malformed.'),
  EDA_REF_NOT_FOUND: spec('A `$ref` names a file that does not exist.'),
  EDA_REF_OUTSIDE: spec('A `$ref` points outside the definitions directory.'),
  EDA_REF_UNREADABLE: spec('A `$ref` names a file that cannot be read or parsed.'),
  EDA_EXPRESSION_SYNTAX: spec('A JSONata expression does not compile.'),
  EDA_UNKNOWN_EVENT: spec('An event is referenced that is not defined in `events`.'),
  EDA_UNKNOWN_COMMAND: spec('A command is referenced that is not defined in `commands`.'),
  EDA_UNKNOWN_MESSAGE: spec('A message type is referenced that is neither an event nor a command.'),
  EDA_UNKNOWN_TOPIC: spec('A topic is referenced that is not defined in `topics`.'),
  EDA_UNKNOWN_QUEUE: spec('A queue is referenced that is not defined in `queues`.'),
  EDA_UNKNOWN_DESTINATION: spec('A name is referenced that is neither a topic nor a queue.'),
  EDA_UNKNOWN_BROKER: spec('A broker is referenced that is not defined in `brokers`.'),
  EDA_UNKNOWN_PROJECTION: spec('A projection is referenced that is not defined in `projections`.'),
  EDA_UNKNOWN_COLUMN: spec('A column is referenced that the projection does not declare.'),
  EDA_UNKNOWN_STATE: spec('A saga state is referenced that the machine does not declare.'),
  EDA_VERSION_GAP: spec('Versions must be numbered 1..n with no gaps.'),
  EDA_UPCAST_ON_FIRST: spec('Version 1 has nothing to upcast from.'),
  EDA_UPCAST_UNKNOWN_PROPERTY: spec('An upcast sets a property that the closed target schema does not allow.'),
  EDA_BREAKING_CHANGE: spec('A new version would reject valid data of the previous one and declares no upcast.'),
  EDA_INVALID_SCHEMA: spec('A JSON Schema is not valid.'),
  EDA_EXAMPLE_INVALID: spec('An example does not match its schema.'),
  EDA_EXAMPLE_UPCAST_INVALID: spec('An example, upcast to the next version, does not match that version\'s schema.'),
  EDA_UPCAST_FAILED: spec('An upcast expression failed while upcasting an example.'),
  EDA_TOPIC_ON_SQS: spec('SQS has no publish/subscribe: declare a queue instead of a topic.'),
  EDA_SAGA_FORM: spec('A saga needs exactly one of `steps` or `machine`.'),
  EDA_SAGA_NO_FINAL: spec('A saga machine has no final state, so no instance can ever finish.'),
  EDA_SAGA_STEP_FORM: spec('A saga step must do exactly one of `send`, `invoke` or `emit`.'),
  EDA_SAGA_DUPLICATE_STEP: spec('Two steps of a saga have the same name.'),
  EDA_AWAIT_WITHOUT_SEND: spec('`await` waits for the reply to a `send`; the step sends nothing.'),
  EDA_WINDOW_KINDS: spec('A window must be exactly one of tumbling, hopping or session.'),
  EDA_STREAM_FORM: spec('A stream must be exactly one of `join`, `aggregate`, or `from` with `filter`.'),
  EDA_HANDLE_FORM: spec('A command handler in an aggregate uses either `handler` (code) or `emit`, not both, and needs one.'),
  EDA_PROJECTION_OPERATION: spec('A projection reaction must do exactly one of `upsert`, `update` or `delete`.'),
  EDA_UPCAST_FORM: spec('An upcast uses either `handler` or `set`/`remove`, not both.'),
  EDA_CODE_NAME_CONFLICT: spec('One name is given to typed functions that need different signatures.'),
  EDA_SECURITY_CONFIG: spec('A topic or queue\'s `security` cannot work: a `current` key id with no key, a key of the wrong size or form, Ed25519 without a public key.'),
} as const satisfies Record<string, ErrorSpec>;

/** Errors raised by the running engine, the CLI and the HTTP API. */
export const RUNTIME_CODES = {
  EDA_DEFINITIONS_INVALID: spec('The definitions have errors; run `edaflow validate` to see them all.'),
  EDA_DEFINITIONS_UNUSABLE: spec('The definitions directory cannot be read.'),
  EDA_HANDLERS_MODULE: spec('The handlers module cannot be loaded or lacks a declared handler.'),
  EDA_CODEGEN_STALE: spec('Generated code on disk differs from what the definitions produce.'),
  EDA_USAGE: spec('The command line is not valid.'),
  EDA_STARTUP: spec('The runtime could not start.'),
  EDA_DATABASE_IN_USE: spec('The embedded database directory is open in another running process (PGlite serves one process at a time); stop it, or use PostgreSQL.', { retriable: true }),
  EDA_PAYLOAD_INVALID: spec('A payload does not match its schema; the message names the JSON pointer.', { status: 400 }),
  EDA_UNKNOWN_TYPE: spec('A message type that the definitions do not declare.', { status: 404 }),
  EDA_PROVISION_CONFLICT: spec('A topic or queue exists on the broker with settings that differ from the definitions.'),
  EDA_BROKER_UNAVAILABLE: spec('The broker cannot be reached.', { retriable: true }),
  EDA_HANDLER_TIMEOUT: spec('A handler attempt took longer than its timeout.', { retriable: true }),
  EDA_IDEMPOTENCY_BUSY: spec('Another caller holds the idempotency key and has not finished in time.', { retriable: true, status: 409 }),
  EDA_UNDECLARED_MESSAGE: spec('A handler emitted or sent a message type its definition does not declare.'),
  EDA_MESSAGE_MALFORMED: spec('A message is not a readable CloudEvent (missing attributes, or a body that is not JSON).', { status: 400 }),
  EDA_MESSAGE_REJECTED: spec('A message failed its destination\'s security or limits (unsigned, bad signature, undecryptable, replayed, too old, too large); it is dead-lettered with reason `rejected` and never reaches a handler.'),
  EDA_UNAUTHENTICATED: spec('The route declares `roles` and the request has no valid bearer token.', { status: 401 }),
  EDA_FORBIDDEN: spec('The bearer token is valid but has none of the roles the route declares.', { status: 403 }),
  EDA_REQUEST_INVALID: spec('An HTTP request has a query parameter or header the endpoint cannot accept (e.g. `?wait=true` for a queued command).', { status: 400 }),
  EDA_BODY_TOO_LARGE: spec('An HTTP request body is larger than the limit (`defaults.payloadLimit`, 1 MB by default); it is not read further.', { status: 413 }),
  EDA_BODY_MALFORMED: spec('An HTTP request body is not valid JSON; the message gives the line, column and offset.', { status: 400 }),
  EDA_UNSUPPORTED_MEDIA_TYPE: spec('An HTTP request body is not `application/json`.', { status: 415 }),
  EDA_IDEMPOTENCY_MISMATCH: spec('An `Idempotency-Key` was reused with a different method, path or body.', { status: 422 }),
  EDA_NOT_FOUND: spec('A single-row query found no row.', { status: 404 }),
  EDA_QUERY_INVALID: spec('A query request lacks a parameter or asks for something the query cannot do.', { status: 400 }),
  EDA_PROJECTION_CONFLICT: spec('A projection table exists with columns that differ from the definitions.'),
  EDA_REBUILD_UNSUPPORTED: spec('A projection fed from a topic cannot be rebuilt: the topic\'s history is not replayable from here.'),
  EDA_PROJECTION_BUSY: spec('Another process is applying the projection (it holds its lease); a rebuild needs it stopped.', { retriable: true }),
  EDA_COMMAND_REJECTED: spec('An aggregate refused the command in its current state (its `reject` message, or what its decider threw).', { status: 409 }),
  EDA_DECIDED_EVENT_INVALID: spec('An aggregate decided an event its definition cannot emit, or whose data fails the event\'s schema: a bug in the definitions or the decider; nothing was appended.'),
  EDA_CONCURRENCY_CONFLICT: spec('A stream was appended to since its version was read (stale expected version); nothing was written. Reload and decide again.', { retriable: true, status: 409 }),
  EDA_DUPLICATE_EVENT: spec('An event with this id is already in the event store; nothing was written.', { status: 409 }),
  EDA_UNKNOWN_POSITION: spec('A read of the event log resumes after a position that is not in the event store (a checkpoint from another database?).'),
  EDA_SAGA_INVALID: spec('A saga cannot be compiled to a state machine (e.g. a step named like one of the compiled states).'),
  EDA_SAGA_EXPRESSION: spec('A saga guard, assign or effect template failed to evaluate, or one event kept `always` transitions looping.'),
  EDA_SAGA_SNAPSHOT: spec('A stored saga snapshot does not fit the saga\'s current definition (e.g. its state was removed).'),
  EDA_SAGA_NOT_FOUND: spec('No saga instance has this id.', { status: 404 }),
  EDA_STREAM_EXPRESSION: spec('A stream\'s `init` or `reduce` template did not give an object.'),
  EDA_STREAM_FENCED: spec('Another process took over the stream (its lease) while this one was processing a record; this one stops and the record is redelivered to the new holder.', { retriable: true }),
} as const satisfies Record<string, ErrorSpec>;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
export type RuntimeCode = keyof typeof RUNTIME_CODES;
export type ErrorCode = DiagnosticCode | RuntimeCode;

export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorSpec>> = { ...DIAGNOSTIC_CODES, ...RUNTIME_CODES };
