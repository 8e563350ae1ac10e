import { randomBytes } from 'node:crypto';
import { loadDefinitions, memoryFileSystem, type Definitions, type Diagnostic } from '../../runtime/definitions/index.js';

/** A fresh 32-byte key, base64 (as a user puts it in the environment). */
export const newKey = (): string => randomBytes(32).toString('base64');

/** Loads `yaml` as a definitions directory with `env` as the environment (`run` mode: unset variables are errors). */
export async function load(yaml: string, env: Record<string, string> = {}): Promise<{ definitions: Definitions | undefined; diagnostics: readonly Diagnostic[] }> {
  const result = await loadDefinitions('/app', { fileSystem: memoryFileSystem({ 'app.yaml': yaml }, '/app'), mode: 'run', env });
  return { definitions: result.definitions as Definitions | undefined, diagnostics: result.diagnostics };
}

export async function definitionsOf(yaml: string, env: Record<string, string> = {}): Promise<Definitions> {
  const { definitions, diagnostics } = await load(yaml, env);
  if (!definitions) throw new Error(`invalid definitions: ${diagnostics.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  return definitions;
}

/**
 * One topic `secured` (maxPayload 4 KB) with the given security block, and an event `Secret` on it whose
 * data may carry a long `note` (to go over the limit).
 */
export function securedYaml(security: string, topic = 'secured'): string {
  return `
edaflow: 1
topics:
  ${topic}:
    maxPayload: 4096
    security:
${security.replace(/^/gm, '      ')}
events:
  Secret:
    topic: ${topic}
    versions:
      1: { schema: { type: object, required: [n], properties: { n: { type: integer }, card: { type: string }, note: { type: string } } } }
`;
}

export const HMAC_AND_AES = `encrypt: { current: k2, keys: { k2: "\${KEY_2}", k1: "\${KEY_1}" } }
sign: { algorithm: hmac-sha256, current: s1, keys: { s1: "\${SIGN_KEY}" }, maxAge: 5m }`;
