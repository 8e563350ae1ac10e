/**
 * The invalid definition sets under test/fixtures/invalid/: each directory holds a small definitions set
 * with exactly one mistake and an `expected.json` saying what `validate` must report about it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DiagnosticCode } from '../../runtime/errors/index.js';
import { loadDefinitions, type LoadResult } from '../../runtime/definitions/index.js';

export const INVALID_FIXTURES = fileURLToPath(new URL('../fixtures/invalid/', import.meta.url));

export interface ExpectedDiagnostic {
  readonly code: DiagnosticCode;
  /** Path relative to the fixture directory, as `validate` shows it when run from there. */
  readonly file: string;
  readonly line: number;
  readonly column?: number;
  /** A substring of the message. */
  readonly message?: string;
  /** Warnings are ignored unless listed with `"severity": "warning"`. */
  readonly severity?: 'error' | 'warning';
}

export type Expected =
  | {
      readonly description: string;
      readonly diagnostics: readonly ExpectedDiagnostic[];
      readonly exitCode: 1;
      /** `run` turns an unset environment variable into an error. Default: `validate`. */
      readonly mode?: 'run' | 'validate';
      /** The environment the definitions see. Default: empty, so fixtures do not depend on the machine. */
      readonly env?: Readonly<Record<string, string>>;
    }
  | {
      readonly description: string;
      /** The input cannot be used at all (exit code 2). */
      readonly unusable: true;
      readonly exitCode: 2;
      /** The directory to load, relative to the fixture directory. Default: the fixture directory itself. */
      readonly directory?: string;
      /** A substring of the `unusable` message. */
      readonly message?: string;
    };

export interface Fixture {
  readonly name: string;
  readonly dir: string;
  readonly expected: Expected;
}

export function invalidFixtures(): Fixture[] {
  return readdirSync(INVALID_FIXTURES)
    .filter((name) => statSync(join(INVALID_FIXTURES, name)).isDirectory())
    .sort()
    .map((name) => {
      const dir = join(INVALID_FIXTURES, name);
      const expectedPath = join(dir, 'expected.json');
      if (!existsSync(expectedPath)) throw new Error(`fixture ${name} has no expected.json`);
      return { name, dir, expected: JSON.parse(readFileSync(expectedPath, 'utf8')) as Expected };
    });
}

/** Loads a fixture as `edaflow validate` run from inside its directory would (so files show as `orders.yaml`). */
export function loadFixture(fixture: Fixture): Promise<LoadResult> {
  const { expected } = fixture;
  const directory = 'unusable' in expected ? expected.directory ?? '.' : '.';
  const mode = 'unusable' in expected ? 'validate' : expected.mode ?? 'validate';
  const env = 'unusable' in expected ? {} : { ...(expected.env ?? {}) };
  return loadDefinitions(directory, { cwd: fixture.dir, mode, env });
}

/** The exit code `edaflow validate` gives for a result (runtime/cli/validate.ts). */
export function exitCodeOf(result: LoadResult): 0 | 1 | 2 {
  if (result.unusable) return 2;
  return result.errorCount > 0 ? 1 : 0;
}
