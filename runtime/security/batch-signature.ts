import { sign, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { EdaflowError } from '../errors/index.js';
import { buildTree, type MerkleProof } from './merkle.js';

/**
 * Ed25519 signing amortised over batches. An Ed25519 signature costs ~35 µs to make and ~100 µs to
 * check, more than the rest of a message's trip through edaflow; so the messages sealed for one
 * destination within one event-loop turn (a publish batch, an outbox relay round) are leaves of one
 * Merkle tree whose root is signed once, and a consumer checks each root's signature once however many
 * of its messages it receives. Node's callback form runs the work on the libuv thread pool, off the
 * event loop.
 */
const signAsync = promisify(sign);
const verifyAsync = promisify(verify);

/**
 * What is signed: the root and the batch size, under a label of their own (a signature for anything
 * else cannot pass for it; with the size signed, a message has exactly one proof that verifies).
 */
function signedMessage(root: Buffer, count: number): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(count);
  return Buffer.concat([ROOT_LABEL, size, root]);
}
const ROOT_LABEL = Buffer.from('edaflow-batch-root-v1\0', 'utf8');

/** At most this many messages a batch: a proof is then at most 8 hashes. */
const MAX_LEAVES = 256;

interface Waiting {
  readonly leaf: Buffer;
  resolve(signed: { signature: Buffer; proof: MerkleProof }): void;
  reject(error: unknown): void;
}

/** Collects leaves for one key until the end of the event-loop turn (or MAX_LEAVES), then signs their root. */
export class BatchSigner {
  private waiting: Waiting[] = [];

  constructor(private readonly keyId: string, private readonly key: KeyObject) {}

  sign(leaf: Buffer): Promise<{ signature: Buffer; proof: MerkleProof }> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ leaf, resolve, reject });
      if (this.waiting.length >= MAX_LEAVES) this.flush();
      else if (this.waiting.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.waiting;
    if (!batch.length) return;
    this.waiting = [];
    const fail = (error: unknown): void => {
      const failure = new EdaflowError('EDA_SECURITY_CONFIG', `signing a batch of ${batch.length} with Ed25519 key "${this.keyId}" failed: ${(error as Error).message}`, { cause: error });
      for (const waiting of batch) waiting.reject(failure);
    };
    try {
      const { root, proofs } = buildTree(batch.map((waiting) => waiting.leaf));
      signAsync(null, signedMessage(root, batch.length), this.key).then(
        (signature) => batch.forEach((waiting, index) => waiting.resolve({ signature, proof: proofs[index]! })),
        fail,
      );
    } catch (error) {
      // Runs from setImmediate: a throw here would leave every waiter pending for good.
      fail(error);
    }
  }
}

/** How many checked roots a destination remembers: a consumer's prefetch spans a few batches at most. */
const REMEMBERED_ROOTS = 1024;

/**
 * The outcome of each (key, root, signature) checked lately, the pending ones included, so the messages
 * of one batch that arrive together share one verification. A forged combination is remembered as
 * false: it costs nothing the second time either.
 */
export class VerifiedRoots {
  private readonly outcomes = new Map<string, Promise<boolean>>();

  verify(keyId: string, key: KeyObject, root: Buffer, count: number, signature: Buffer): Promise<boolean> {
    if (signature.length !== 64) return Promise.resolve(false);
    const id = `${keyId}:${count}:${root.toString('base64')}:${signature.toString('base64')}`;
    const known = this.outcomes.get(id);
    if (known) return known;
    const outcome = verifyAsync(null, signedMessage(root, count), key, signature);
    this.outcomes.set(id, outcome);
    // A failure to check (not a false) is not remembered: the next message tries again.
    outcome.catch(() => this.outcomes.get(id) === outcome && this.outcomes.delete(id));
    if (this.outcomes.size > REMEMBERED_ROOTS) this.outcomes.delete(this.outcomes.keys().next().value!);
    return outcome;
  }
}

/**
 * A message signed alone (`<key id>:<seal time>:<signature>`, as edaflow sealed Ed25519 messages
 * before batch signatures): its signature is of the canonical attributes and the body themselves.
 * Still accepted, so messages in flight across an upgrade, and producers not yet upgraded, are not
 * refused; the two forms cannot stand in for each other (the batch form signs a labelled root).
 */
export function verifySingle(key: KeyObject, header: Buffer, body: Buffer, signature: Buffer): Promise<boolean> {
  return signature.length === 64 ? verifyAsync(null, Buffer.concat([header, body]), key, signature) : Promise.resolve(false);
}
