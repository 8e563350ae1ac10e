import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { fastParse } from '../../runtime/definitions/fast-yaml.js';

/** Every YAML file below `dir`. */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const full = (text: string): unknown => parseDocument(text, { version: '1.2', uniqueKeys: false, logLevel: 'silent' }).toJS({ maxAliasCount: 10_000 });

describe('the fast YAML path', () => {
  it('reads every file it accepts exactly as the full parser does (example and fixtures)', () => {
    const files = [...yamlFiles('definitions'), ...yamlFiles('test/fixtures')];
    let accepted = 0;
    for (const path of files) {
      const text = readFileSync(path, 'utf8');
      const fast = fastParse(text);
      if (!fast) continue;
      accepted++;
      expect(fast.data, path).toEqual(full(text));
    }
    expect(accepted).toBeGreaterThan(files.length / 2);
  });

  it('resolves scalars by YAML 1.2 core rules', () => {
    const text = [
      'on: yes', 'off: no', 'n: ~', 'e:', 't: True', 'i: 0o17', 'h: 0x1F', 'u: 1_000', 'f: 1.5e3', 'inf: -.inf', 'd: 2024-01-01',
      'q: "0x10"', 's: 012', 'neg: -12', 'dot: .5', 'nan: .NaN', 'big: 12345678901234567890',
    ].join('\n');
    expect(fastParse(text)!.data).toEqual(full(text));
  });

  it('leaves to the full parser what needs it: errors, duplicate keys, tags and aliases', () => {
    expect(fastParse('a: [1, 2')).toBeUndefined();
    expect(fastParse('a: 1\na: 2')).toBeUndefined();
    expect(fastParse('a: !!str 1')).toBeUndefined();
    expect(fastParse('a: &x 1\nb: *x')).toBeUndefined();
    expect(fastParse('a: "wow! such text"')).toEqual({ data: { a: 'wow! such text' } });
  });
});
