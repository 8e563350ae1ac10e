import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { EdaflowError } from '../errors/index.js';

/**
 * Key material as it comes from the environment, turned into node:crypto KeyObjects once, at start
 * (importing a key per message would cost more than the cipher). Error messages name the key id and
 * where it is declared, never the value: it is a secret.
 */

/** Keys by key id, and the id new messages use (undefined on a process that only verifies). */
export interface KeyRing<Key> {
  readonly current: string | undefined;
  readonly keys: ReadonlyMap<string, Key>;
}

export interface SigningKey {
  /** HMAC secret, or the Ed25519 private key; absent on a verify-only Ed25519 key. */
  readonly signing?: KeyObject;
  /** HMAC secret, or the Ed25519 public key. */
  readonly verifying: KeyObject;
}

/** An AES-256 key: exactly 32 bytes, base64 or hex. */
export function aesKey(value: unknown, where: string): KeyObject {
  const bytes = secretBytes(value, where);
  if (bytes.length !== 32) throw configError(`${where} must be 32 bytes (AES-256), base64 or hex; it decodes to ${bytes.length}`);
  return createSecretKey(bytes);
}

/** An HMAC-SHA256 secret: at least 32 bytes, base64 or hex. */
export function hmacKey(value: unknown, where: string): SigningKey {
  const bytes = secretBytes(value, where);
  if (bytes.length < 32) throw configError(`${where} must be at least 32 bytes for hmac-sha256, base64 or hex; it decodes to ${bytes.length}`);
  const key = createSecretKey(bytes);
  return { signing: key, verifying: key };
}

/** An Ed25519 pair from `{ publicKey, privateKey }` (PEM, or base64 of the raw 32 bytes); the public key may be derived from the private one. */
export function ed25519Key(value: unknown, where: string): SigningKey {
  if (value === null || typeof value !== 'object') throw configError(`${where} must be { publicKey, privateKey } for ed25519`);
  const { publicKey, privateKey } = value as { publicKey?: unknown; privateKey?: unknown };
  const signing = present(privateKey) ? importEd25519(privateKey, 'private', `${where}.privateKey`) : undefined;
  const verifying = present(publicKey) ? importEd25519(publicKey, 'public', `${where}.publicKey`) : signing ? createPublicKey(signing) : undefined;
  if (!verifying) throw configError(`${where} has no publicKey: ed25519 verification needs one`);
  return { verifying, ...(signing ? { signing } : {}) };
}

/** DER headers of an Ed25519 key (RFC 8410) in front of its raw 32 bytes. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function importEd25519(value: unknown, kind: 'public' | 'private', where: string): KeyObject {
  if (typeof value !== 'string') throw configError(`${where} must be a string (PEM or base64)`);
  let key: KeyObject;
  try {
    if (value.includes('-----BEGIN')) key = kind === 'public' ? createPublicKey(value) : createPrivateKey(value);
    else {
      const raw = decodeText(value, where);
      if (raw.length !== 32) throw configError(`${where} must be PEM or base64 of the raw 32-byte key; it decodes to ${raw.length} bytes`);
      key = kind === 'public'
        ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
        : createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
    }
  } catch (error) {
    if (error instanceof EdaflowError) throw error;
    throw configError(`${where} is not a readable Ed25519 ${kind} key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw configError(`${where} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
  return key;
}

function secretBytes(value: unknown, where: string): Buffer {
  if (!present(value)) throw configError(`${where} is empty: set its environment variable`);
  if (typeof value !== 'string') throw configError(`${where} must be a string (base64 or hex)`);
  return decodeText(value, where);
}

/** Hex when it is an even run of hex digits (64 for a 32-byte key), else base64 or base64url. */
function decodeText(value: string, where: string): Buffer {
  const text = value.trim();
  if (/^(?:[0-9a-fA-F]{2}){16,}$/.test(text)) return Buffer.from(text, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw configError(`${where} is neither base64 nor hex`);
  return Buffer.from(text, 'base64');
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

export function configError(message: string): EdaflowError {
  return new EdaflowError('EDA_SECURITY_CONFIG', message);
}
