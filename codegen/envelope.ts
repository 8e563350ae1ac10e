/**
 * `envelope.ts`: the CloudEvents 1.0 envelope every message travels in, typed by message name, and
 * the discriminated unions handlers receive (`EventMessage<'A' | 'B'>` narrows on `type`).
 */
export function generateEnvelope(): string {
  return `import type { CommandDataMap, CommandName, EventDataMap, EventName } from './messages.js';

/**
 * A message as edaflow delivers it: a CloudEvents 1.0 envelope (binary mode on the wire) whose
 * \`data\` is the message's data at its latest version.
 */
export interface Message<Type extends string = string, Data = unknown> {
  /** Unique per message; a redelivery keeps it. */
  readonly id: string;
  /** The producing system (\`defaults.source\`). */
  readonly source: string;
  readonly specversion: '1.0';
  /** The event or command name. */
  readonly type: Type;
  /** What the message is about, e.g. the order id (a topic's default key). */
  readonly subject?: string;
  /** When it happened (RFC 3339); event time for streams. */
  readonly time: string;
  readonly datacontenttype: string;
  /** The schema version \`data\` was written with (data is upcast to the latest before delivery). */
  readonly dataversion?: string;
  /** Shared by every message caused, directly or not, by the same first message. */
  readonly correlationid?: string;
  /** The id of the message whose handling produced this one. */
  readonly causationid?: string;
  /** W3C trace context. */
  readonly traceparent?: string;
  readonly data: Data;
}

/** The message of one of the named events (all events by default), discriminated by \`type\`. */
export type EventMessage<Name extends EventName = EventName> = { [K in Name]: Message<K, EventDataMap[K]> }[Name];

/** The message of one of the named commands (all commands by default), discriminated by \`type\`. */
export type CommandMessage<Name extends CommandName = CommandName> = { [K in Name]: Message<K, CommandDataMap[K]> }[Name];
`;
}
