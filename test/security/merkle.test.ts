import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildTree, encodeProof, leafHash, parseProof, rootOf } from '../../runtime/security/merkle.js';

const leaves = (count: number) => Array.from({ length: count }, (_, n) => leafHash(Buffer.from(`header ${n}`), randomBytes(20)));

describe('Merkle batch proofs', () => {
  it('every leaf of batches of 1 to 40 hashes up to the root along its proof, also after a trip through the wire form', () => {
    for (let count = 1; count <= 40; count++) {
      const batch = leaves(count);
      const { root, proofs } = buildTree(batch);
      expect(proofs).toHaveLength(count);
      for (const [index, proof] of proofs.entries()) {
        expect(proof.path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(count)));
        expect(rootOf(batch[index]!, proof)?.equals(root)).toBe(true);
        expect(rootOf(batch[index]!, parseProof(encodeProof(proof))!)?.equals(root)).toBe(true);
      }
    }
  });

  it('a proof leads nowhere for another leaf, another index, a changed hash, or a path too short or too long', () => {
    const batch = leaves(11);
    const { root, proofs } = buildTree(batch);
    const proof = proofs[5]!;
    const reaches = (leaf: Buffer, candidate: typeof proof) => rootOf(leaf, candidate)?.equals(root) === true;
    expect(reaches(batch[5]!, proof)).toBe(true);
    expect(reaches(batch[4]!, proof)).toBe(false);
    expect(reaches(batch[5]!, { ...proof, index: 4 })).toBe(false);
    expect(reaches(batch[5]!, { ...proof, index: 11 })).toBe(false);
    const changed = proof.path.map((node) => Buffer.from(node));
    changed[1]![0] ^= 1;
    expect(reaches(batch[5]!, { ...proof, path: changed })).toBe(false);
    expect(rootOf(batch[5]!, { ...proof, path: proof.path.slice(1) })).toBeUndefined();
    expect(rootOf(batch[5]!, { ...proof, path: [...proof.path, proof.path[0]!] })).toBeUndefined();
  });

  it('reads only well-formed proofs from the wire', () => {
    const { proofs } = buildTree(leaves(3));
    const text = encodeProof(proofs[2]!);
    expect(parseProof(text)).toEqual(proofs[2]);
    const lastHash = text.split('.').at(-1)!;
    // Another spelling of the same bytes: the last character's two unused bits set.
    const respelled = text.slice(0, -1) + String.fromCharCode(lastHash.at(-1)!.charCodeAt(0) + 1);
    expect(Buffer.from(respelled.split('.').at(-1)!, 'base64url').equals(proofs[2]!.path.at(-1)!)).toBe(true);
    for (const bad of ['', '1', '1.0', 'x.3', '1.3.abc', '3.3', '02.3', `1.${2 ** 17}`, `0.1${'.'.repeat(17)}`, text.replace(/\.([^.]+)$/, '.$1$1'), `${text}=`, respelled]) expect(parseProof(bad)).toBeUndefined();
  });
});
