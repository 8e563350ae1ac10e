import { sign, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
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

/** What is signed: the root, under a label of its own (a signature for anything else cannot pass for it). */
function signedMessage(root: Buffer): Buffer {
  return Buffer.concat([ROOT_LABEL, root]);
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

  constructor(private readonly key: KeyObject) {}

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
    const { root, proofs } = buildTree(batch.map((waiting) => waiting.leaf));
    signAsync(null, signedMessage(root), this.key).then(
      (signature) => batch.forEach((waiting, index) => waiting.resolve({ signature, proof: proofs[index]! })),
      (error: unknown) => batch.forEach((waiting) => waiting.reject(error)),
    );
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

  verify(keyId: string, key: KeyObject, root: Buffer, signature: Buffer): Promise<boolean> {
    if (signature.length !== 64) return Promise.resolve(false);
    const id = `${keyId}:${root.toString('base64')}:${signature.toString('base64')}`;
    const known = this.outcomes.get(id);
    if (known) return known;
    const outcome = verifyAsync(null, signedMessage(root), key, signature);
    this.outcomes.set(id, outcome);
    // A failure to check (not a false) is not remembered: the next message tries again.
    outcome.catch(() => this.outcomes.delete(id));
    if (this.outcomes.size > REMEMBERED_ROOTS) this.outcomes.delete(this.outcomes.keys().next().value!);
    return outcome;
  }
}
