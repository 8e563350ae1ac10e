import { createHash } from 'node:crypto';

const ID_NAMESPACE = Buffer.from('5f0c3a4e8b7d4c1e9a2b6d0e4f8a1c3b', 'hex');

/**
 * A UUIDv5 (SHA-1, RFC 9562) of `parts`. A message whose id is a function of what produced it (a
 * command's events, a stream's window, a keyed HTTP request) gets the same id when a crash makes it
 * produced again, so the event store's unique ids and the consumers' dedup drop the repeat.
 */
export function deterministicId(...parts: readonly string[]): string {
  const hash = createHash('sha1').update(ID_NAMESPACE).update(parts.join('\u0000')).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
