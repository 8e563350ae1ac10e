import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../runtime/definitions/index.js';

// A `$ref` may only name files inside the definitions directory: climbing out with `..`, an absolute
// path, or a symbolic link inside the directory that leads out of it are each an error at the `$ref`'s
// line, and nothing of the file outside is read into the definitions or shown.
const sandbox = mkdtempSync(join(tmpdir(), 'edaflow-ref-escape-'));
const root = join(sandbox, 'definitions');
const SECRET = 'TOP-SECRET-VALUE';

function definitionsWith(ref: string): string {
  return ['topics:', '  orders: {}', 'events:', '  OrderPlaced:', '    topic: orders', '    versions:', '      1:', `        schema: { $ref: ${JSON.stringify(ref)} }`, ''].join('\n');
}

beforeAll(() => {
  mkdirSync(join(root, 'schemas'), { recursive: true });
  writeFileSync(join(sandbox, 'outside.json'), JSON.stringify({ type: 'object', description: SECRET }));
  writeFileSync(join(root, 'schemas', 'order.json'), JSON.stringify({ type: 'object', properties: { orderId: { type: 'string' } } }));
  symlinkSync(join(sandbox, 'outside.json'), join(root, 'schemas', 'leak.json'));
  symlinkSync(join(root, 'schemas', 'order.json'), join(root, 'schemas', 'alias.json'));
});

afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

async function load(ref: string) {
  writeFileSync(join(root, 'app.yaml'), definitionsWith(ref));
  const result = await loadDefinitions(root);
  return { result, errors: result.diagnostics.filter((d) => d.severity === 'error') };
}

describe('a $ref that escapes the definitions directory', () => {
  it.each([
    ['a relative path climbing out', '../outside.json', ''],
    ['an absolute path elsewhere', '/etc/passwd', ''],
    ['an absolute path to the same file outside', join(sandbox, 'outside.json'), ''],
    ['a symbolic link inside pointing out', './schemas/leak.json', 'points outside the definitions directory (through a symbolic link)'],
    ['a file: URL', `file://${join(sandbox, 'outside.json')}`, 'names a URL'],
    ['an https: URL', 'https://schemas.example/order.json', 'names a URL'],
  ])('refuses %s: EDA_REF_OUTSIDE at the $ref`s line, nothing read', async (_name, ref, how) => {
    const { result, errors } = await load(ref);
    expect(errors).toEqual([expect.objectContaining({ code: 'EDA_REF_OUTSIDE', line: 8, column: expect.any(Number), message: expect.stringContaining(`$ref "${ref}" ${how || 'points outside the definitions directory'}`) })]);
    expect(errors[0]!.file).toMatch(/app\.yaml$/);
    expect(result.definitions).toBeUndefined();
    expect(JSON.stringify(result.diagnostics)).not.toContain(SECRET);
  });

  it('accepts a file inside, also through a symbolic link that stays inside', async () => {
    for (const ref of ['./schemas/order.json', 'schemas/alias.json']) {
      const { result, errors } = await load(ref);
      expect(errors, ref).toEqual([]);
      expect(result.definitions?.events.get('OrderPlaced')?.versions[0]?.schema).toMatchObject({ properties: { orderId: { type: 'string' } } });
    }
  });
});
