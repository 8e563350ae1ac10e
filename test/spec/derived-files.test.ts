import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('files derived from the language spec and the error table', () => {
  it('are up to date (schemas/, the generated types and validator, docs/errors.md)', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/generate-schemas.ts', '--check'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
