import { CheckContext, isObject } from '../definitions/checks/context.js';
import type { Entry } from '../definitions/merge.js';
import { findNode, type Path } from '../definitions/source.js';
import { EdaflowError } from '../errors/index.js';
import { aesKey, ed25519Key, hmacKey } from './keys.js';

/**
 * `edaflow validate` checks of each topic's and queue's `security`, reported where they are written:
 * a key ring with no usable current key, keys of the wrong size or form, Ed25519 keys without a public
 * key. Messages name the key id, never its value (a secret from the environment). A value still holding
 * `${...}` or empty (its variable unset: already a warning) is not checked.
 */
export function checkSecurity(ctx: CheckContext): void {
  for (const section of ['topics', 'queues'] as const) {
    for (const entry of ctx.sound(section)) {
      const security = isObject(entry.spec) ? entry.spec['security'] : undefined;
      if (!isObject(security)) continue;
      const algorithm = isObject(security['sign']) && security['sign']['algorithm'] === 'ed25519' ? 'ed25519' : 'hmac-sha256';
      for (const use of ['encrypt', 'sign'] as const) {
        const block = security[use];
        if (!isObject(block)) continue;
        const at: Path = ['security', use];
        const importKey = use === 'encrypt' ? aesKey : algorithm === 'ed25519' ? ed25519Key : hmacKey;
        checkRing(ctx, entry, at, block, importKey);
        if (isObject(block['keys'])) checkFromEnvironment(ctx, entry, [...at, 'keys'], block['keys'], use === 'sign' && algorithm === 'ed25519');
      }
    }
  }
}

function checkRing(ctx: CheckContext, entry: Entry, at: Path, block: Record<string, unknown>, importKey: (value: unknown, where: string) => unknown): void {
  const keys = block['keys'];
  if (block['keyProvider'] !== undefined) {
    if (keys !== undefined) ctx.report('EDA_SECURITY_CONFIG', 'use `keys` or `keyProvider`, not both', entry, [...at, 'keyProvider'], 'key');
    return;
  }
  if (!isObject(keys)) {
    ctx.report('EDA_SECURITY_CONFIG', `security.${String(at[1])} needs \`keys\` (from the environment) or a \`keyProvider\``, entry, at, 'key');
    return;
  }
  const ids = Object.keys(keys);
  const current = block['current'];
  if (typeof current === 'string' && !ids.includes(current)) ctx.report('EDA_SECURITY_CONFIG', `current key "${current}" is not among the keys (${ids.join(', ')})`, entry, [...at, 'current']);
  if (current === undefined && ids.length > 1) ctx.report('EDA_SECURITY_CONFIG', `several keys (${ids.join(', ')}): name the one new messages use with \`current\``, entry, at, 'key');
  for (const [id, value] of Object.entries(keys)) {
    if (!checkable(value)) continue;
    try {
      importKey(value, `key "${id}"`);
    } catch (error) {
      if (error instanceof EdaflowError) ctx.report('EDA_SECURITY_CONFIG', error.message, entry, [...at, 'keys', id]);
      else throw error;
    }
  }
}

/**
 * Secrets come only from the environment: a secret key written into the file (in version control, and
 * in every code frame `validate` prints) is an error. Ed25519 public keys are not secret.
 */
function checkFromEnvironment(ctx: CheckContext, entry: Entry, at: Path, keys: Record<string, unknown>, keyPairs: boolean): void {
  for (const [id, value] of Object.entries(keys)) {
    const secretAt: Path = keyPairs ? [...at, id, 'privateKey'] : [...at, id];
    const secret = keyPairs ? (isObject(value) ? value['privateKey'] : undefined) : value;
    if (typeof secret !== 'string' || secret === '') continue;
    if (!sourceText(entry, secretAt).includes('${')) ctx.report('EDA_SECURITY_CONFIG', `key "${id}" is written in the file: secrets come only from the environment, as \`\${NAME}\``, entry, secretAt);
  }
}

/** The text of the value at `path` as written in the file (before environment substitution). */
function sourceText(entry: Entry, path: Path): string {
  const { file } = entry.origin;
  const { node } = findNode(file.document.contents, [...entry.origin.path, ...path], file.document);
  return node?.range ? file.text.slice(node.range[0], node.range[1]) : '';
}

/** A value from an unset variable (empty, or the reference left in place) was already reported as a warning. */
function checkable(value: unknown): boolean {
  if (typeof value === 'string') return value !== '' && !value.includes('${');
  if (isObject(value)) return Object.values(value).every(checkable);
  return true;
}
