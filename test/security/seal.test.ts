import { generateKeyPairSync, sign } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DestinationRef } from '../../runtime/brokers/adapter.js';
import { createEnvelope, decode, encodeBinary, type Envelope } from '../../runtime/envelope/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { MessageSecurity, SECURITY_ATTRIBUTES, type DestinationSecurity } from '../../runtime/security/index.js';
import { canonicalAttributes } from '../../runtime/security/attributes.js';
import { definitionsOf, HMAC_AND_AES, load, newKey, securedYaml } from './setup.js';

const TOPIC: DestinationRef = { kind: 'topic', name: 'secured' };
const PREFIX = 'ce_';

async function securityOf(security: string, env: Record<string, string>): Promise<DestinationSecurity> {
  return MessageSecurity.build(await definitionsOf(securedYaml(security), env)).of(TOPIC);
}

/** Sealed, put on the wire as every adapter does, and read back: what a consumer gets. */
function overTheWire(envelope: Envelope): { envelope: Envelope; body: Buffer } {
  const wire = encodeBinary(envelope, PREFIX);
  return { envelope: decode(wire.headers, wire.body, PREFIX), body: wire.body };
}

/** What the consumer pipeline does: verify, then decrypt. */
async function receive(security: DestinationSecurity, sealed: Envelope | Promise<Envelope>, now = Date.now()): Promise<Envelope> {
  const { envelope, body } = overTheWire(await sealed);
  await security.verify(envelope, body, now);
  return security.open(envelope);
}

async function rejection(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    if (isEdaflowError(error, 'EDA_MESSAGE_REJECTED')) return error.message;
    throw error;
  }
  throw new Error('expected EDA_MESSAGE_REJECTED, nothing was thrown');
}

const secret = () => createEnvelope('Secret', { n: 7, card: '4111 1111 1111 1111' }, 'test', { subject: 'order-1', dataversion: 1 });

describe('message security: AES-256-GCM + HMAC-SHA256', () => {
  const env = { KEY_1: newKey(), KEY_2: newKey(), SIGN_KEY: newKey() };

  it('round-trips: the wire carries no plaintext, the key ids and a signature; the consumer gets the data back', async () => {
    const security = await securityOf(HMAC_AND_AES, env);
    const sealed = await security.seal(secret());
    const wire = encodeBinary(sealed, PREFIX);
    expect(wire.body.toString()).not.toContain('4111');
    expect(wire.headers[PREFIX + SECURITY_ATTRIBUTES.encryption]).toMatch(/^k2:[A-Za-z0-9+/]{16}$/);
    expect(wire.headers[PREFIX + SECURITY_ATTRIBUTES.signature]).toMatch(/^s1:\d{13}:[A-Za-z0-9+/]{43}=$/);
    const opened = await receive(security, sealed);
    expect(opened.data).toEqual({ n: 7, card: '4111 1111 1111 1111' });
    expect(opened.extensions).toBeUndefined();
    expect(opened.subject).toBe('order-1');
  });

  it('two seals of one message differ (a random nonce each time)', async () => {
    const security = await securityOf(HMAC_AND_AES, env);
    const message = secret();
    expect((await security.seal(message)).data).not.toBe((await security.seal(message)).data);
  });

  it('refuses a changed body, a changed attribute, a changed nonce, or a message signed for another topic', async () => {
    const security = await securityOf(HMAC_AND_AES, env);
    const sealed = await security.seal(secret());
    const cipher = Buffer.from(sealed.data as string, 'base64');
    cipher[0] = cipher[0]! ^ 1;
    expect(await rejection(() => receive(security, { ...sealed, data: cipher.toString('base64') }))).toMatch(/bad signature/);
    for (const change of [{ subject: 'order-2' }, { type: 'Other' }, { id: 'another-id' }, { time: new Date(0).toISOString() }, { dataversion: 2 }, { source: 'evil' }]) {
      expect(await rejection(() => receive(security, { ...sealed, ...change }))).toMatch(/bad signature/);
    }
    const iv = Buffer.alloc(12, 1).toString('base64');
    expect(await rejection(() => receive(security, { ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.encryption]: `k2:${iv}` } }))).toMatch(/bad signature/);
    const other = MessageSecurity.build(await definitionsOf(securedYaml(HMAC_AND_AES, 'other'), env)).of({ kind: 'topic', name: 'other' });
    expect(await rejection(() => receive(security, other.seal(secret())))).toMatch(/bad signature/);
  });

  it('refuses an unsigned message and one signed with an unknown key id', async () => {
    const security = await securityOf(HMAC_AND_AES, env);
    expect(await rejection(() => receive(security, secret()))).toMatch(/unsigned message: topic secured requires a hmac-sha256 signature/);
    const sealed = await security.seal(secret());
    const signature = sealed.extensions![SECURITY_ATTRIBUTES.signature]!;
    expect(await rejection(() => receive(security, { ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.signature]: signature.replace(/^s1:/, 's9:') } }))).toMatch(/unknown key id "s9"/);
    const later = signature.replace(/:(\d+):/, (_, at: string) => `:${Number(at) + 1}:`);
    expect(await rejection(() => receive(security, { ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.signature]: later } }))).toMatch(/bad signature/);
    expect(await rejection(() => receive(security, { ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.signature]: 'garbage' } }))).toMatch(/unreadable signature attribute edaflowsig/);
    // A batch proof means nothing to an HMAC: refused, not ignored.
    expect(await rejection(() => receive(security, { ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.signature]: `${signature}:0.1` } }))).toMatch(/unreadable signature attribute edaflowsig: expected <key id>:<seal time>:<signature>$/);
  });

  it('refuses a message older than maxAge and one sealed far in the future', async () => {
    const security = await securityOf(HMAC_AND_AES, env);
    const sealedAt = Date.now();
    const sealed = await security.seal(secret(), sealedAt);
    expect((await receive(security, sealed, sealedAt + 4 * 60_000)).data).toMatchObject({ n: 7 });
    expect(await rejection(() => receive(security, sealed, sealedAt + 6 * 60_000))).toMatch(/expired: sealed 360 s ago, older than maxAge 300 s/);
    expect(await rejection(() => receive(security, sealed, sealedAt - 60 * 60_000))).toMatch(/in the future/);
  });

  it('a different key under the same id cannot decrypt (authenticated by the signature, still refused by the cipher)', async () => {
    const producer = await securityOf(HMAC_AND_AES, env);
    const consumer = await securityOf(HMAC_AND_AES, { ...env, KEY_2: newKey() });
    expect(await rejection(() => receive(consumer, producer.seal(secret())))).toMatch(/undecryptable with key "k2"/);
  });

  it('rotation: old keys still decrypt messages in flight, new messages use the current key, a retired key is refused', async () => {
    const before = await securityOf(`encrypt: { current: k1, keys: { k1: "\${KEY_1}" } }\nsign: { keys: { s1: "\${SIGN_KEY}" } }`, env);
    const after = await securityOf(HMAC_AND_AES, env);
    const inFlight = await before.seal(secret());
    expect(inFlight.extensions?.[SECURITY_ATTRIBUTES.encryption]).toMatch(/^k1:/);
    expect((await receive(after, inFlight)).data).toMatchObject({ n: 7 });
    const fresh = await after.seal(secret());
    expect(fresh.extensions?.[SECURITY_ATTRIBUTES.encryption]).toMatch(/^k2:/);
    const retired = await securityOf(`encrypt: { keys: { k2: "\${KEY_2}" } }\nsign: { keys: { s1: "\${SIGN_KEY}" } }`, env);
    expect((await receive(retired, fresh)).data).toMatchObject({ n: 7 });
    expect(await rejection(() => receive(retired, inFlight))).toMatch(/encrypted with unknown key id "k1"/);
  });
});

describe('message security: encryption alone', () => {
  const env = { KEY_1: newKey() };
  const ENCRYPT_ONLY = `encrypt: { keys: { k1: "\${KEY_1}" } }`;

  it('binds the attributes to the ciphertext (additional data): a swapped subject or nonce is undecryptable', async () => {
    const security = await securityOf(ENCRYPT_ONLY, env);
    const sealed = await security.seal(secret());
    expect((await receive(security, sealed)).data).toMatchObject({ n: 7 });
    expect(await rejection(() => receive(security, { ...sealed, subject: 'order-2' }))).toMatch(/undecryptable/);
    const iv = Buffer.alloc(12, 1).toString('base64');
    expect(await rejection(() => receive(security, { ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.encryption]: `k1:${iv}` } }))).toMatch(/undecryptable/);
    expect(await rejection(() => receive(security, secret()))).toMatch(/not encrypted: topic secured requires encrypted payloads/);
  });
});

describe('message security: Ed25519 signatures', () => {
  const pair = generateKeyPairSync('ed25519');
  const pem = { publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  const raw = {
    publicKey: pair.publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64'),
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(-32).toString('base64'),
  };
  const SIGNED = `sign: { algorithm: ed25519, keys: { e1: { publicKey: "\${PUBLIC}", privateKey: "\${PRIVATE}" } } }`;
  const VERIFY_ONLY = `sign: { algorithm: ed25519, keys: { e1: { publicKey: "\${PUBLIC}" } } }`;

  it('signs with the private key (PEM or raw base64); a process with only the public key verifies but cannot sign', async () => {
    const producer = await securityOf(SIGNED, { PUBLIC: pem.publicKey, PRIVATE: pem.privateKey });
    const rawProducer = await securityOf(SIGNED, { PUBLIC: raw.publicKey, PRIVATE: raw.privateKey });
    const consumer = await securityOf(VERIFY_ONLY, { PUBLIC: raw.publicKey });
    expect((await receive(consumer, producer.seal(secret()))).data).toEqual({ n: 7, card: '4111 1111 1111 1111' });
    expect((await receive(consumer, rawProducer.seal(secret()))).data).toMatchObject({ n: 7 });
    await expect(consumer.seal(secret())).rejects.toThrow(/sign key "e1" has no privateKey/);
  });

  it('signs what is sealed in one turn as one batch: one signature, each message verifiable alone, a proof bound to its message', async () => {
    const producer = await securityOf(SIGNED, { PUBLIC: pem.publicKey, PRIVATE: pem.privateKey });
    const consumer = await securityOf(VERIFY_ONLY, { PUBLIC: pem.publicKey });
    const batch = await Promise.all(Array.from({ length: 5 }, (_, n) => producer.seal(createEnvelope('Secret', { n, card: 'x' }, 'test', { dataversion: 1 }))));
    const attributes = batch.map((sealed) => sealed.extensions![SECURITY_ATTRIBUTES.signature]!);
    const signatureOf = (attribute: string) => attribute.split(':')[2];
    expect(new Set(attributes.map(signatureOf)).size).toBe(1);
    expect(attributes[0]).toMatch(/^e1:\d{13}:[A-Za-z0-9+/]{86}==:0\.5(\.[A-Za-z0-9_-]{43}){3}$/);
    // Out of order and one at a time, as a consumer may get them.
    for (const sealed of [...batch].reverse()) expect((await receive(consumer, sealed)).data).toMatchObject({ card: 'x' });
    const swapped = { ...batch[1]!, extensions: { ...batch[1]!.extensions, [SECURITY_ATTRIBUTES.signature]: attributes[2]! } };
    expect(await rejection(() => receive(consumer, swapped))).toMatch(/bad signature/);
    expect(await rejection(() => receive(consumer, { ...batch[3]!, data: { n: 4, card: 'x' } }))).toMatch(/bad signature/);
    const withAttribute = (sealed: Envelope, attribute: string): Envelope => ({ ...sealed, extensions: { ...sealed.extensions, [SECURITY_ATTRIBUTES.signature]: attribute } });
    const [keyId, sealedAt, signature, proof] = attributes[4]!.split(':') as [string, string, string, string];
    // The batch's signature without the proof is read as a message signed alone, and does not hold for it.
    expect(await rejection(() => receive(consumer, withAttribute(batch[4]!, `${keyId}:${sealedAt}:${signature}`)))).toMatch(/bad signature/);
    // One spelling per proof: the batch size is signed, numbers and hashes have one written form.
    const [, , ...path] = proof.split('.');
    expect(await rejection(() => receive(consumer, withAttribute(batch[4]!, `${keyId}:${sealedAt}:${signature}:${['8', '9', ...path].join('.')}`)))).toMatch(/bad signature/);
    expect(await rejection(() => receive(consumer, withAttribute(batch[4]!, `${keyId}:${sealedAt}:${signature}:${['04', '5', ...path].join('.')}`)))).toMatch(/unreadable batch proof in edaflowsig/);
    expect(await rejection(() => receive(consumer, withAttribute(batch[4]!, `${keyId}:${sealedAt}:${signature}:${['4', '5', ...path, path[0]].join('.')}`)))).toMatch(/batch proof does not fit its own index 4 and batch size 5 \(2 sibling hashes\)/);
    const alone = await producer.seal(secret());
    expect(signatureOf(alone.extensions![SECURITY_ATTRIBUTES.signature]!)).not.toBe(signatureOf(attributes[0]!));
    expect((await receive(consumer, alone)).data).toMatchObject({ n: 7 });
  });

  it('caps a batch at 256 messages: 300 sealed at once are two batches, every message verifies', async () => {
    const producer = await securityOf(SIGNED, { PUBLIC: pem.publicKey, PRIVATE: pem.privateKey });
    const consumer = await securityOf(VERIFY_ONLY, { PUBLIC: pem.publicKey });
    const sealed = await Promise.all(Array.from({ length: 300 }, (_, n) => producer.seal(createEnvelope('Secret', { n, card: 'x' }, 'test', { dataversion: 1 }))));
    const proofs = sealed.map((envelope) => envelope.extensions![SECURITY_ATTRIBUTES.signature]!.split(':')[3]!);
    expect(proofs.map((proof) => proof.split('.')[1])).toEqual([...Array<string>(256).fill('256'), ...Array<string>(44).fill('44')]);
    for (const envelope of sealed) expect((await receive(consumer, envelope)).data).toMatchObject({ card: 'x' });
  });

  it('still verifies a message signed alone (as sealed before batch signatures), and refuses it tampered', async () => {
    const consumer = await securityOf(VERIFY_ONLY, { PUBLIC: pem.publicKey });
    const sealedAt = String(Date.now());
    const message = secret();
    const header = canonicalAttributes(TOPIC, message, undefined, { keyId: 'e1', sealedAt });
    const body = Buffer.from(JSON.stringify(message.data));
    const signature = sign(null, Buffer.concat([header, body]), pair.privateKey).toString('base64');
    const single = { ...message, extensions: { [SECURITY_ATTRIBUTES.signature]: `e1:${sealedAt}:${signature}` } };
    expect((await receive(consumer, single)).data).toEqual(message.data);
    expect(await rejection(() => receive(consumer, { ...single, subject: 'order-2' }))).toMatch(/bad signature/);
  });

  it('refuses a tampered body or attribute and a message signed by another key pair', async () => {
    const producer = await securityOf(SIGNED, { PUBLIC: pem.publicKey, PRIVATE: pem.privateKey });
    const consumer = await securityOf(VERIFY_ONLY, { PUBLIC: pem.publicKey });
    const sealed = await producer.seal(secret());
    expect(await rejection(() => receive(consumer, { ...sealed, data: { n: 8, card: '4111 1111 1111 1111' } }))).toMatch(/bad signature/);
    expect(await rejection(() => receive(consumer, { ...sealed, subject: 'order-2' }))).toMatch(/bad signature/);
    const stranger = generateKeyPairSync('ed25519');
    const forger = await securityOf(SIGNED, { PUBLIC: stranger.publicKey.export({ type: 'spki', format: 'pem' }).toString(), PRIVATE: stranger.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    expect(await rejection(() => receive(consumer, forger.seal(secret())))).toMatch(/bad signature/);
  });
});

describe('message security: definitions and secrets', () => {
  it('size limits: maxPayload of the destination, else defaults.payloadLimit, else 1 MB', async () => {
    const yaml = (defaults: string) => `
edaflow: 1
${defaults}
topics: { small: { maxPayload: 512 }, plain: {} }
queues: { jobs: {} }
`;
    const limits = async (defaults: string) => {
      const security = MessageSecurity.build(await definitionsOf(yaml(defaults)));
      return [security.of({ kind: 'topic', name: 'small' }), security.of({ kind: 'topic', name: 'plain' }), security.of({ kind: 'queue', name: 'jobs' })].map((s) => s.policy.maxPayloadBytes);
    };
    expect(await limits('')).toEqual([512, 1024 * 1024, 1024 * 1024]);
    expect(await limits('defaults: { payloadLimit: 2048 }')).toEqual([512, 2048, 2048]);
  });

  it('takes keys from a keyProvider function of the handlers module, and says when it is missing', async () => {
    const key = newKey();
    const signKey = newKey();
    const definitions = await definitionsOf(securedYaml(`encrypt: { keyProvider: vaultKeys }\nsign: { keyProvider: signKeys }`));
    const requests: string[] = [];
    const security = MessageSecurity.build(definitions, {
      vaultKeys: (request: { destination: DestinationRef; use: string }) => (requests.push(`${request.destination.name} ${request.use}`), { current: 'v1', keys: { v1: key } }),
      signKeys: () => ({ keys: { s1: signKey } }),
    }).of(TOPIC);
    const sealed = await security.seal(secret());
    expect(sealed.extensions?.[SECURITY_ATTRIBUTES.encryption]).toMatch(/^v1:/);
    expect((await receive(security, sealed)).data).toMatchObject({ n: 7 });
    expect(requests).toEqual(['secured encrypt']);
    expect(() => MessageSecurity.build(definitions, {})).toThrow('topic secured: security.encrypt.keyProvider: the handlers module exports no function "vaultKeys" (is it passed with --handlers?)');
  });

  it('validate reports unusable security at file:line, and never prints a key value', async () => {
    const shortKey = Buffer.from('not thirty-two bytes').toString('base64');
    const yaml = securedYaml(`encrypt: { current: k3, keys: { k1: "\${KEY_1}", k2: "\${KEY_2}" } }
sign: { algorithm: ed25519, keys: { e1: { privateKey: "" }, e2: "\${KEY_1}" } }`);
    const { definitions, diagnostics } = await load(yaml, { KEY_1: shortKey, KEY_2: newKey() });
    expect(definitions).toBeUndefined();
    const security = diagnostics.filter((d) => d.code === 'EDA_SECURITY_CONFIG');
    const messages = security.map((d) => d.message);
    expect(messages).toEqual(expect.arrayContaining([
      'current key "k3" is not among the keys (k1, k2)',
      'key "k1" must be 32 bytes (AES-256), base64 or hex; it decodes to 20',
      'key "e2" must be { publicKey, privateKey } for ed25519',
    ]));
    const lineOf = (start: string) => security.find((d) => d.message.startsWith(start))?.line;
    expect(security.every((d) => d.file.endsWith('app.yaml'))).toBe(true);
    expect([lineOf('current key "k3"'), lineOf('key "k1"'), lineOf('key "e2"')]).toEqual([7, 7, 8]);
    for (const diagnostic of diagnostics) expect(JSON.stringify(diagnostic)).not.toContain(shortKey);
  });

  it('a secret key written into the file is an error: secrets come only from the environment', async () => {
    const literal = newKey();
    const { diagnostics } = await load(securedYaml(`encrypt: { keys: { k1: "${literal}" } }
sign: { algorithm: ed25519, keys: { e1: { publicKey: "\${PUBLIC}", privateKey: "\${PRIVATE}" } } }`), { PUBLIC: 'x', PRIVATE: 'y' });
    const written = diagnostics.filter((d) => d.message.includes('written in the file'));
    expect(written.map((d) => [d.message, d.line])).toEqual([['key "k1" is written in the file: secrets come only from the environment, as `${NAME}`', 7]]);
    for (const diagnostic of diagnostics) expect(diagnostic.message).not.toContain(literal);
  });

  it('an ed25519 key with neither public nor private key is reported', async () => {
    const { diagnostics } = await load(securedYaml(`sign: { algorithm: ed25519, keys: { e1: {} } }`));
    expect(diagnostics.map((d) => d.message)).toContain('key "e1" has no publicKey: ed25519 verification needs one');
  });

  it('logs never show key material under security settings', async () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) }) as never });
    const key = newKey();
    logger.info({ topic: { security: { encrypt: { keys: { k1: key } }, sign: { keys: { e1: { privateKey: key } } } } } }, 'config');
    logger.info({ keys: { k1: key }, privateKey: key }, 'config');
    expect(lines.join('\n')).not.toContain(key);
    expect(lines.join('\n')).toContain('[redacted]');
  });
});
