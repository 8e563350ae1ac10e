import type { KeyObject } from 'node:crypto';
import { destinationLabel, type DestinationRef } from '../brokers/adapter.js';
import { parseDuration, type Definitions, type Document } from '../definitions/index.js';
import { MemoryDedupStore, type DedupStore } from '../idempotency/dedup.js';
import { aesKey, configError, ed25519Key, hmacKey, type KeyRing, type SigningKey } from './keys.js';
import { DestinationSecurity, type SignatureAlgorithm } from './seal.js';

export type SecuritySpec = NonNullable<Document.TopicDefinition['security']>;

/** What a `keyProvider` function of the handlers module returns: the key ring, with the key material. */
export interface ProvidedKeys {
  readonly current?: string;
  readonly keys: Readonly<Record<string, unknown>>;
}
export type KeyProvider = (request: { readonly destination: DestinationRef; readonly use: 'encrypt' | 'sign' }) => ProvidedKeys;

/** How long a signed message is accepted, and how long its id is remembered against replays. */
export const DEFAULT_MAX_AGE_MS = 24 * 60 * 60_000;

/**
 * The security of every topic and queue (their `maxPayload` and `security`), keys imported once at
 * start. `replays` remembers the ids of signed messages each group has handled (the `cache` store in a
 * running process, so a replay is caught across restarts where the cache is Redis).
 */
export class MessageSecurity {
  private constructor(
    private readonly byDestination: ReadonlyMap<string, DestinationSecurity>,
    private readonly defaultLimit: number,
    readonly replays: DedupStore,
  ) {}

  static build(definitions: Definitions, functions: Readonly<Record<string, unknown>> = {}, replays: DedupStore = new MemoryDedupStore()): MessageSecurity {
    const byDestination = new Map<string, DestinationSecurity>();
    const declared = [
      ...[...definitions.topics.values()].map((topic) => ({ destination: { kind: 'topic', name: topic.name } as const, spec: topic.spec })),
      ...[...definitions.queues.values()].map((queue) => ({ destination: { kind: 'queue', name: queue.name } as const, spec: queue.spec })),
    ];
    for (const { destination, spec } of declared) {
      const security = spec.security;
      const encrypt = security?.encrypt ? encryptionOf(destination, security.encrypt, functions) : undefined;
      const sign = security?.sign ? signingOf(destination, security.sign, functions) : undefined;
      byDestination.set(destinationLabel(destination), new DestinationSecurity({
        destination,
        maxPayloadBytes: spec.maxPayload ?? definitions.defaults.payloadLimitBytes,
        ...(encrypt ? { encrypt } : {}),
        ...(sign ? { sign } : {}),
      }));
    }
    return new MessageSecurity(byDestination, definitions.defaults.payloadLimitBytes, replays);
  }

  /** The security of `destination` (a destination the definitions do not declare gets the default size limit only). */
  of(destination: DestinationRef): DestinationSecurity {
    return this.byDestination.get(destinationLabel(destination)) ?? new DestinationSecurity({ destination, maxPayloadBytes: this.defaultLimit });
  }
}

function encryptionOf(destination: DestinationRef, spec: NonNullable<SecuritySpec['encrypt']>, functions: Readonly<Record<string, unknown>>): KeyRing<KeyObject> {
  const where = `${destination.kind} ${destination.name}: security.encrypt`;
  const source = keySource(destination, 'encrypt', spec, functions, where);
  const keys = new Map(Object.entries(source.keys).map(([id, value]) => [id, aesKey(value, `${where}.keys.${id}`)]));
  return ring(source.current, keys, where);
}

function signingOf(destination: DestinationRef, spec: NonNullable<SecuritySpec['sign']>, functions: Readonly<Record<string, unknown>>) {
  const where = `${destination.kind} ${destination.name}: security.sign`;
  const algorithm: SignatureAlgorithm = spec.algorithm ?? 'hmac-sha256';
  const source = keySource(destination, 'sign', spec, functions, where);
  const keys = new Map<string, SigningKey>(Object.entries(source.keys).map(([id, value]) => [id, algorithm === 'ed25519' ? ed25519Key(value, `${where}.keys.${id}`) : hmacKey(value, `${where}.keys.${id}`)]));
  const maxAgeMs = parseDuration(spec.maxAge) ?? DEFAULT_MAX_AGE_MS;
  return { algorithm, ring: ring(source.current, keys, where), maxAgeMs };
}

function keySource(destination: DestinationRef, use: 'encrypt' | 'sign', spec: { current?: string; keys?: Readonly<Record<string, unknown>>; keyProvider?: string }, functions: Readonly<Record<string, unknown>>, where: string): ProvidedKeys {
  if (spec.keyProvider === undefined) return { ...(spec.current !== undefined ? { current: spec.current } : {}), keys: spec.keys ?? {} };
  const provider = functions[spec.keyProvider];
  if (typeof provider !== 'function') throw configError(`${where}.keyProvider: the handlers module exports no function "${spec.keyProvider}" (is it passed with --handlers?)`);
  const provided = (provider as KeyProvider)({ destination, use });
  if (provided === null || typeof provided !== 'object' || provided.keys === null || typeof provided.keys !== 'object') throw configError(`${where}.keyProvider ${spec.keyProvider} must return { current, keys: { id: key } }`);
  return provided;
}

function ring<Key>(current: string | undefined, keys: Map<string, Key>, where: string): KeyRing<Key> {
  if (keys.size === 0) throw configError(`${where} has no keys`);
  // Key ids travel inside `<key id>:...` attributes.
  for (const id of keys.keys()) if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw configError(`${where}: key id "${id}" may hold only letters, digits, _ . and -`);
  if (current !== undefined && !keys.has(current)) throw configError(`${where}.current names key "${current}", which is not among its keys (${[...keys.keys()].join(', ')})`);
  // One key and no `current`: that key is the current one.
  return { current: current ?? (keys.size === 1 ? [...keys.keys()][0] : undefined), keys };
}
