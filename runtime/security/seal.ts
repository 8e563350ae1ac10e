import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { DestinationRef } from '../brokers/adapter.js';
import { parseJson, type Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import { ATTRIBUTES, canonicalAttributes, encryptionAttribute, parseEncryption, parseSignature, signatureAttribute, withoutSecurityAttributes } from './attributes.js';
import { BatchSigner, VerifiedRoots, verifySingle } from './batch-signature.js';
import type { KeyRing, SigningKey } from './keys.js';
import { encodeProof, leafHash, parseProof, rootOf } from './merkle.js';

export type SignatureAlgorithm = 'hmac-sha256' | 'ed25519';

/** One destination's resolved security: its size limit, and its keys when it encrypts or signs. */
export interface DestinationPolicy {
  readonly destination: DestinationRef;
  readonly maxPayloadBytes: number;
  readonly encrypt?: KeyRing<KeyObject>;
  readonly sign?: { readonly algorithm: SignatureAlgorithm; readonly ring: KeyRing<SigningKey>; readonly maxAgeMs: number };
}

/** How far in the future a seal time may be (clocks of producers and consumers drift). */
export const CLOCK_SKEW_MS = 5 * 60_000;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const NONCES_PER_REFILL = 4096;

/**
 * Random 96-bit nonces, drawn from the CSPRNG in bulk: one `randomBytes` call per 4,096 messages
 * instead of one each (a call costs about as much as the encryption itself). Every nonce is still
 * random and used once; a refill replaces the pool rather than overwriting it.
 */
let noncePool = Buffer.alloc(0);
let nonceOffset = 0;
function nextNonce(): Buffer {
  if (nonceOffset + IV_BYTES > noncePool.length) {
    noncePool = randomBytes(IV_BYTES * NONCES_PER_REFILL);
    nonceOffset = 0;
  }
  const nonce = noncePool.subarray(nonceOffset, nonceOffset + IV_BYTES);
  nonceOffset += IV_BYTES;
  return nonce;
}

/**
 * Seals outgoing envelopes and opens incoming ones for one destination: AES-256-GCM encryption of the
 * data (random 96-bit nonce; the attributes as additional data, so headers cannot be swapped between
 * messages), then a signature over the attributes and the body exactly as it goes on the wire: an
 * HMAC per message, or for Ed25519 one signature per batch (the messages sealed in one event-loop turn
 * are the leaves of a Merkle tree: ./batch-signature.ts). Encrypt-then-sign: a consumer rejects a
 * forged message before it spends a decryption on it.
 */
export class DestinationSecurity {
  /** Ed25519 only: one batch signer per signing key id, and the batch roots checked lately. */
  private readonly batchSigners = new Map<string, BatchSigner>();
  private readonly verifiedRoots = new VerifiedRoots();

  constructor(readonly policy: DestinationPolicy) {}

  get encrypts(): boolean {
    return this.policy.encrypt !== undefined;
  }

  get signs(): boolean {
    return this.policy.sign !== undefined;
  }

  /** The envelope as it goes on the wire for this destination (unchanged when it neither encrypts nor signs). */
  async seal(envelope: Envelope, nowMs = Date.now()): Promise<Envelope> {
    const { encrypt, sign: signing } = this.policy;
    if (!encrypt && !signing) return envelope;
    const extensions = withoutSecurityAttributes(envelope.extensions);
    let data: unknown = envelope.data;
    let encryption: string | undefined;
    if (encrypt) {
      const keyId = currentKey(encrypt, 'encrypt', this.policy.destination);
      const iv = nextNonce();
      encryption = encryptionAttribute({ keyId, iv: iv.toString('base64') });
      const cipher = createCipheriv('aes-256-gcm', encrypt.keys.get(keyId)!, iv);
      cipher.setAAD(canonicalAttributes(this.policy.destination, envelope, encryption, undefined));
      const plain = Buffer.from(JSON.stringify(envelope.data), 'utf8');
      data = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString('base64');
      extensions[ATTRIBUTES.encryption] = encryption;
    }
    if (signing) {
      const keyId = currentKey(signing.ring, 'sign', this.policy.destination);
      const key = signing.ring.keys.get(keyId)!;
      if (!key.signing) throw new EdaflowError('EDA_SECURITY_CONFIG', `${describe(this.policy.destination)}: sign key "${keyId}" has no privateKey; this process can verify but not sign`);
      const sealedAt = String(nowMs);
      // The body exactly as encodeBinary writes it: JSON of the (encrypted) data.
      const body = Buffer.from(JSON.stringify(data), 'utf8');
      const header = canonicalAttributes(this.policy.destination, envelope, encryption, { keyId, sealedAt });
      extensions[ATTRIBUTES.signature] = signing.algorithm === 'hmac-sha256'
        ? signatureAttribute({ keyId, sealedAt, signature: hmacOf(key.signing, header, body).toString('base64') })
        : await this.signInBatch(keyId, key.signing, sealedAt, leafHash(header, body));
    }
    return { ...envelope, data, extensions };
  }

  /**
   * Checks the signature of a decoded message against its raw body (nothing when this destination does
   * not sign), and its age. Throws EDA_MESSAGE_REJECTED.
   */
  async verify(envelope: Envelope, body: Buffer, nowMs: number): Promise<void> {
    const signing = this.policy.sign;
    if (!signing) return;
    const raw = envelope.extensions?.[ATTRIBUTES.signature];
    if (raw === undefined) throw rejected(`unsigned message: ${describe(this.policy.destination)} requires a ${signing.algorithm} signature`);
    const signed = parseSignature(raw);
    const ed25519 = signing.algorithm === 'ed25519';
    if (!signed || (signed.proof !== undefined && !ed25519)) {
      throw rejected(`unreadable signature attribute ${ATTRIBUTES.signature}: expected <key id>:<seal time>:<signature>${ed25519 ? '[:<batch proof>]' : ''}`);
    }
    const key = signing.ring.keys.get(signed.keyId);
    if (!key) throw rejected(`signed with unknown key id "${signed.keyId}" (${describe(this.policy.destination)} knows ${[...signing.ring.keys.keys()].join(', ')})`);
    const header = canonicalAttributes(this.policy.destination, envelope, envelope.extensions?.[ATTRIBUTES.encryption], signed);
    const signature = Buffer.from(signed.signature, 'base64');
    const valid = !ed25519 ? hmacMatches(key.verifying, header, body, signature)
      : signed.proof === undefined ? await verifySingle(key.verifying, header, body, signature)
        : await this.verifyInBatch(signed.keyId, key.verifying, signed.proof, leafHash(header, body), signature);
    if (!valid) {
      throw rejected(`bad signature (key "${signed.keyId}"): the body or an attribute was changed after signing, or it was signed for another destination`);
    }
    const sealedAt = Number(signed.sealedAt);
    if (!Number.isFinite(sealedAt)) throw rejected(`signed message without a readable seal time`);
    const age = nowMs - sealedAt;
    if (age > signing.maxAgeMs) throw rejected(`expired: sealed ${Math.round(age / 1000)} s ago, older than maxAge ${Math.round(signing.maxAgeMs / 1000)} s of ${describe(this.policy.destination)}`);
    if (age < -CLOCK_SKEW_MS) throw rejected(`sealed ${Math.round(-age / 1000)} s in the future (beyond the allowed clock skew)`);
  }

  /** Ed25519: signs the message's leaf with the others sealed in this turn; the attribute carries the batch signature and the leaf's proof. */
  private async signInBatch(keyId: string, key: KeyObject, sealedAt: string, leaf: Buffer): Promise<string> {
    let signer = this.batchSigners.get(keyId);
    if (!signer) this.batchSigners.set(keyId, (signer = new BatchSigner(keyId, key)));
    const { signature, proof } = await signer.sign(leaf);
    return signatureAttribute({ keyId, sealedAt, signature: signature.toString('base64'), proof: encodeProof(proof) });
  }

  /** Ed25519: the leaf's proof leads to a root whose signature holds (checked once per batch). Throws when the proof is unreadable. */
  private async verifyInBatch(keyId: string, key: KeyObject, proofText: string, leaf: Buffer, signature: Buffer): Promise<boolean> {
    const proof = parseProof(proofText);
    if (!proof) throw rejected(`unreadable batch proof in ${ATTRIBUTES.signature}: expected <index>.<batch size>.<sibling hashes, base64url>`);
    const root = rootOf(leaf, proof);
    if (!root) throw rejected(`batch proof does not fit its own index ${proof.index} and batch size ${proof.count} (${proof.path.length} sibling hashes)`);
    return this.verifiedRoots.verify(keyId, key, root, proof.count, signature);
  }

  /**
   * How long this group must remember a handled signed message to refuse it again: as long as its age
   * lets it in (maxAge, plus clock skew). Undefined when this destination does not sign.
   */
  get replayTtlMs(): number | undefined {
    const signing = this.policy.sign;
    return signing && signing.maxAgeMs + CLOCK_SKEW_MS;
  }

  /** The envelope with its data decrypted and the security attributes removed. Throws EDA_MESSAGE_REJECTED. */
  open(envelope: Envelope): Envelope {
    const encrypt = this.policy.encrypt;
    const extensions = envelope.extensions;
    if (!encrypt) return extensions && ATTRIBUTES.signature in extensions ? strip(envelope, envelope.data) : envelope;
    const raw = extensions?.[ATTRIBUTES.encryption];
    const encryption = parseEncryption(raw);
    if (!encryption || typeof envelope.data !== 'string') throw rejected(`not encrypted: ${describe(this.policy.destination)} requires encrypted payloads`);
    const { keyId } = encryption;
    const key = encrypt.keys.get(keyId);
    if (!key) throw rejected(`encrypted with unknown key id "${keyId}" (${describe(this.policy.destination)} knows ${[...encrypt.keys.keys()].join(', ')})`);
    const sealed = Buffer.from(envelope.data, 'base64');
    const nonce = Buffer.from(encryption.iv, 'base64');
    if (sealed.length < TAG_BYTES || nonce.length !== IV_BYTES) throw rejected(`undecryptable: truncated ciphertext or nonce (key "${keyId}")`);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAAD(canonicalAttributes(this.policy.destination, envelope, raw, undefined));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw rejected(`undecryptable with key "${keyId}": the ciphertext, nonce or an attribute was changed, or the key is not the one it was encrypted with`);
    }
    return strip(envelope, parseJson(plain, 'the decrypted body'));
  }
}

function hmacOf(key: KeyObject, header: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(header).update(body).digest();
}

function hmacMatches(key: KeyObject, header: Buffer, body: Buffer, signature: Buffer): boolean {
  const expected = hmacOf(key, header, body);
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}

function strip(envelope: Envelope, data: unknown): Envelope {
  const rest = withoutSecurityAttributes(envelope.extensions);
  const { extensions: _extensions, ...base } = envelope;
  return { ...base, ...(Object.keys(rest).length ? { extensions: rest } : {}), data };
}

function currentKey<Key>(ring: KeyRing<Key>, what: 'encrypt' | 'sign', destination: DestinationRef): string {
  if (ring.current === undefined || !ring.keys.has(ring.current)) throw new EdaflowError('EDA_SECURITY_CONFIG', `${describe(destination)}: security.${what} has no current key to seal with`);
  return ring.current;
}

function describe(destination: DestinationRef): string {
  return `${destination.kind} ${destination.name}`;
}

export function rejected(message: string): EdaflowError {
  return new EdaflowError('EDA_MESSAGE_REJECTED', message);
}
