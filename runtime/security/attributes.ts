import type { DestinationRef } from '../brokers/adapter.js';
import type { Envelope } from '../envelope/index.js';

/**
 * The CloudEvents extension attributes that carry a sealed message's security metadata (lower-case
 * alphanumerics, as CloudEvents requires), and the canonical bytes the signature and the cipher's
 * additional data cover. Two attributes rather than one per field: every header costs the broker
 * client and the broker (an AMQP headers table, a Kafka record header), per message.
 */
export const ATTRIBUTES = {
  /** `<key id>:<nonce, base64>`: the AES key the data was encrypted with and the 96-bit GCM nonce. */
  encryption: 'edaflowenc',
  /**
   * `<key id>:<seal time, ms since the epoch>:<signature, base64>`, and for Ed25519 `:<batch proof>` (the
   * signature is of a batch's Merkle root: ./merkle.ts); the seal time is replay protection's clock.
   */
  signature: 'edaflowsig',
} as const;

export interface EncryptionAttribute {
  readonly keyId: string;
  readonly iv: string;
}

export interface SignatureAttribute {
  readonly keyId: string;
  readonly sealedAt: string;
  readonly signature: string;
  /** Ed25519: the message's place in the signed batch (encodeProof). */
  readonly proof?: string;
}

export function encryptionAttribute(value: EncryptionAttribute): string {
  return `${value.keyId}:${value.iv}`;
}

export function signatureAttribute(value: SignatureAttribute): string {
  return `${value.keyId}:${value.sealedAt}:${value.signature}${value.proof === undefined ? '' : `:${value.proof}`}`;
}

/** Undefined when absent or not of the form `<key id>:<nonce>`. */
export function parseEncryption(value: string | undefined): EncryptionAttribute | undefined {
  const [keyId, iv, ...rest] = value?.split(':') ?? [];
  return keyId && iv && rest.length === 0 ? { keyId, iv } : undefined;
}

/** Undefined when absent or not of the form `<key id>:<seal time>:<signature>[:<proof>]`. */
export function parseSignature(value: string | undefined): SignatureAttribute | undefined {
  const [keyId, sealedAt, signature, proof, ...rest] = value?.split(':') ?? [];
  if (!keyId || !sealedAt || !signature || proof === '' || rest.length) return undefined;
  // Built without a spread: this runs for every message received.
  return proof === undefined ? { keyId, sealedAt, signature } : { keyId, sealedAt, signature, proof };
}

/** The extensions without any security attribute (before sealing again, after opening). */
export function withoutSecurityAttributes(extensions: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name in extensions) if (name !== ATTRIBUTES.encryption && name !== ATTRIBUTES.signature) result[name] = extensions[name]!;
  return result;
}

/**
 * What the signature (and the cipher's additional authenticated data) covers besides the body: the
 * destination (a message signed for one topic is refused on another), the attributes a consumer acts
 * on, the encryption attribute, and the signing key id and seal time. Each value is length-prefixed,
 * so no value can be cut or shifted into its neighbour. `traceparent` and foreign extensions are left
 * out: they are routing metadata that infrastructure may rewrite.
 */
export function canonicalAttributes(destination: DestinationRef, envelope: Envelope, encryption: string | undefined, signed: { keyId: string; sealedAt: string } | undefined): Buffer {
  const fields = [
    'edaflow-seal-v1',
    `${destination.kind}:${destination.name}`,
    envelope.id,
    envelope.source,
    envelope.type,
    envelope.time,
    envelope.subject,
    envelope.dataversion === undefined ? undefined : String(envelope.dataversion),
    envelope.datacontenttype,
    envelope.correlationid,
    envelope.causationid,
    encryption,
    signed?.keyId,
    signed?.sealedAt,
  ];
  let text = '';
  // `-` marks an absent value, distinct from an empty one (`0:`).
  for (const field of fields) text += field === undefined ? '-;' : `${field.length}:${field};`;
  return Buffer.from(text, 'utf8');
}
