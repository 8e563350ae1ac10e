import * as crypto from 'node:crypto';

/**
 * A Merkle tree over a batch of sealed messages, so one Ed25519 signature (of the root) covers them all
 * while each message stays verifiable on its own: a message carries its index, the batch size and the
 * sibling hashes on its path to the root. Leaves and inner nodes hash under different prefixes (0x00,
 * 0x01, as RFC 6962), so an inner node can never pass for a leaf. A lone node at the end of a level
 * moves up unchanged.
 */
export interface MerkleProof {
  readonly index: number;
  readonly count: number;
  /** Sibling hashes from the leaf up. */
  readonly path: readonly Buffer[];
}

/** Bounds a proof read from the wire: 2^16 messages a batch, at most 16 hashes. */
const MAX_COUNT = 1 << 16;
/** One-shot `crypto.hash` where node has it (20.12+), a third cheaper than a Hash object; else the object. */
const sha256: (data: Buffer) => Buffer = typeof crypto.hash === 'function'
  ? (data) => crypto.hash('sha256', data, 'buffer')
  : (data) => crypto.createHash('sha256').update(data).digest();
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(header: Buffer, body: Buffer): Buffer {
  return sha256(Buffer.concat([LEAF, header, body]));
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return sha256(Buffer.concat([NODE, left, right]));
}

/** The root of `leaves` and each leaf's proof (the rule `rootOf` walks back: at each level a node's sibling is its index ^ 1, when there is one). */
export function buildTree(leaves: readonly Buffer[]): { root: Buffer; proofs: MerkleProof[] } {
  if (!leaves.length) throw new Error('a Merkle tree needs at least one leaf');
  const paths: Buffer[][] = leaves.map(() => []);
  let level: readonly Buffer[] = leaves;
  for (let height = 0; level.length > 1; height++) {
    for (const [leaf, path] of paths.entries()) {
      const sibling = (leaf >> height) ^ 1;
      if (sibling < level.length) path.push(level[sibling]!);
    }
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return { root: level[0]!, proofs: paths.map((path, index) => ({ index, count: leaves.length, path })) };
}

/** The root `leaf` hashes up to along `proof`; undefined when the proof does not fit its own index and count. */
export function rootOf(leaf: Buffer, proof: MerkleProof): Buffer | undefined {
  let { index, count } = proof;
  if (index >= count) return undefined;
  let node = leaf;
  let used = 0;
  while (count > 1) {
    const sibling = index ^ 1;
    if (sibling < count) {
      const other = proof.path[used++];
      if (!other) return undefined;
      node = index & 1 ? nodeHash(other, node) : nodeHash(node, other);
    }
    index >>= 1;
    count = (count + 1) >> 1;
  }
  return used === proof.path.length ? node : undefined;
}

/** `<index>.<count>.<hash>...`, hashes in base64url (no `.` or `:` in them). */
export function encodeProof(proof: MerkleProof): string {
  return [String(proof.index), String(proof.count), ...proof.path.map((node) => node.toString('base64url'))].join('.');
}

const NUMBER = /^(0|[1-9]\d{0,4})$/;
/** 32 bytes in unpadded base64url, the last character carrying no unused bits: one spelling per hash. */
const HASH = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Undefined when `text` is not a proof written as encodeProof writes it (one spelling per proof). */
export function parseProof(text: string): MerkleProof | undefined {
  const [index, count, ...path] = text.split('.');
  if (index === undefined || count === undefined || !NUMBER.test(index) || !NUMBER.test(count) || path.length > 16 || !path.every((node) => HASH.test(node))) return undefined;
  const [at, size] = [Number(index), Number(count)];
  if (size < 1 || size > MAX_COUNT || at >= size) return undefined;
  return { index: at, count: size, path: path.map((node) => Buffer.from(node, 'base64url')) };
}
