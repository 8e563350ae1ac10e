import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { createMessageAjv } from '../core/json-schema.js';
import { applyDeclarativeUpcast } from '../core/upcast.js';
import type { Definitions } from '../definitions/index.js';
import type { DestinationRef } from '../brokers/adapter.js';
import { EdaflowError } from '../errors/index.js';
import type { Envelope } from '../envelope/index.js';
import type { DedupStore } from '../idempotency/dedup.js';
import { MessageSecurity } from '../security/index.js';

/** A typed upcaster from the handlers module: data of version n-1 in, data of version n out. */
export type UpcastFunction = (data: unknown) => unknown;

interface VersionEntry {
  readonly validate: ValidateFunction;
  readonly upcast?: (data: unknown) => Promise<unknown>;
}

interface TypeEntry {
  readonly kind: 'event' | 'command';
  /** Index 0 is version 1. */
  readonly versions: readonly VersionEntry[];
  readonly destination: DestinationRef | undefined;
}

/** The first schema problem of a payload: where (a JSON pointer into `data`) and what. */
export interface PayloadProblem {
  readonly pointer: string;
  readonly message: string;
}

/**
 * Every message type the definitions declare, with its validators (compiled once, at start) and its
 * upcasters. The one place that knows how data of any version becomes data of the latest version.
 */
export class MessageCatalog {
  private constructor(
    private readonly types: ReadonlyMap<string, TypeEntry>,
    /** Each destination's size limit, encryption and signatures: sealed on publish, opened by the consumer pipeline. */
    readonly security: MessageSecurity,
  ) {}

  /**
   * `upcasters` are the handlers module's functions (key providers of `security` are looked up there
   * too); `replays` remembers handled signed messages (default: in process memory).
   */
  static build(definitions: Definitions, upcasters: Readonly<Record<string, UpcastFunction>> = {}, options: { readonly replays?: DedupStore } = {}): MessageCatalog {
    const ajv = createMessageAjv({ addUsedSchema: false });
    const types = new Map<string, TypeEntry>();
    for (const event of definitions.events.values()) {
      const versions = event.versions.map((version): VersionEntry => {
        const validate = ajv.compile(version.schema as object);
        const declared = version.upcast;
        if (!declared) return { validate };
        const handler = declared.handler;
        if (handler !== undefined) {
          const fn = upcasters[handler];
          if (!fn) throw new EdaflowError('EDA_HANDLERS_MODULE', `upcaster ${handler} (${event.name} v${version.version}) is not exported by the handlers module`);
          return { validate, upcast: async (data) => fn(data) };
        }
        return { validate, upcast: (data) => applyDeclarativeUpcast(data, declared) };
      });
      types.set(event.name, { kind: 'event', versions, destination: { kind: 'topic', name: event.spec.topic } });
    }
    for (const command of definitions.commands.values()) {
      const queue = command.spec.queue;
      types.set(command.name, { kind: 'command', versions: [{ validate: ajv.compile(command.schema as object) }], destination: queue ? { kind: 'queue', name: queue } : undefined });
    }
    return new MessageCatalog(types, MessageSecurity.build(definitions, upcasters, options.replays));
  }

  has(type: string): boolean {
    return this.types.has(type);
  }

  kind(type: string): 'event' | 'command' | undefined {
    return this.types.get(type)?.kind;
  }

  latestVersion(type: string): number {
    return this.entry(type).versions.length;
  }

  /** Where messages of `type` are published: an event's topic, a routed command's queue. */
  destinationOf(type: string): DestinationRef | undefined {
    return this.entry(type).destination;
  }

  /** The first problem of `data` as version `version` of `type`, or undefined when it is valid. */
  check(type: string, version: number, data: unknown): PayloadProblem | undefined {
    const entry = this.entry(type).versions[version - 1];
    if (!entry) return { pointer: '', message: `${type} has no version ${version} (latest is ${this.latestVersion(type)})` };
    return entry.validate(data) ? undefined : firstProblem(entry.validate.errors);
  }

  /** Throws EDA_PAYLOAD_INVALID (HTTP 400) naming the JSON pointer when `data` is not a valid latest `type`. */
  assertPublishable(type: string, data: unknown): void {
    if (!this.has(type)) throw new EdaflowError('EDA_UNKNOWN_TYPE', `unknown message type "${type}"`);
    const problem = this.check(type, this.latestVersion(type), data);
    if (problem) throw new EdaflowError('EDA_PAYLOAD_INVALID', `${type}: ${problem.pointer || '/'} ${problem.message}`, { details: { pointer: problem.pointer } });
  }

  /**
   * Validates `envelope` as its declared version and upcasts it to the latest, step by step. The
   * input is never modified (stored bytes never change). Returns the problem instead when invalid.
   */
  async toLatest(envelope: Envelope): Promise<{ envelope: Envelope } | { problem: PayloadProblem }> {
    const entry = this.entry(envelope.type);
    const version = envelope.dataversion ?? 1;
    const problem = this.check(envelope.type, version, envelope.data);
    if (problem) return { problem };
    let data = envelope.data;
    for (let next = version + 1; next <= entry.versions.length; next++) data = await entry.versions[next - 1]!.upcast!(data);
    if (version === entry.versions.length) return { envelope };
    const upcastProblem = this.check(envelope.type, entry.versions.length, data);
    if (upcastProblem) return { problem: { pointer: upcastProblem.pointer, message: `after upcasting from version ${version}: ${upcastProblem.message}` } };
    return { envelope: { ...envelope, data, dataversion: entry.versions.length } };
  }

  private entry(type: string): TypeEntry {
    const entry = this.types.get(type);
    if (!entry) throw new EdaflowError('EDA_UNKNOWN_TYPE', `unknown message type "${type}"`);
    return entry;
  }
}

function firstProblem(errors: readonly ErrorObject[] | null | undefined): PayloadProblem {
  const error = errors?.[0];
  if (!error) return { pointer: '', message: 'is invalid' };
  const extra = error.keyword === 'additionalProperties' ? ` ("${String((error.params as Record<string, unknown>)['additionalProperty'])}")` : error.keyword === 'required' ? '' : '';
  return { pointer: error.instancePath, message: `${error.message ?? 'is invalid'}${extra}` };
}
