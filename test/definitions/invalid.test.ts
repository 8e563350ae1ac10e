/**
 * Every directory under test/fixtures/invalid/ is a definitions set with one mistake. Its expected.json
 * lists exactly the errors `validate` must report — code, file and line (and, where given, column and a
 * message substring) — and the exit code. Warnings are ignored unless listed with "severity": "warning".
 */
import { describe, expect, it } from 'vitest';
import { DIAGNOSTIC_CODES, type DiagnosticCode } from '../../runtime/errors/index.js';
import type { Diagnostic } from '../../runtime/definitions/index.js';
import { exitCodeOf, invalidFixtures, loadFixture, type ExpectedDiagnostic } from '../helpers/fixtures.js';

/**
 * Codes no definitions set can trigger today. Keep this list short, and say why for each: a code that
 * gets a fixture must leave the list (the last test checks that).
 */
const CANNOT_BE_TRIGGERED: ReadonlyMap<DiagnosticCode, string> = new Map<DiagnosticCode, string>([]);

const fixtures = invalidFixtures();
const key = (d: { code: string; file: string; line: number }): string => `${d.code} ${d.file}:${d.line}`;

function sameMultiset(actual: readonly string[], expected: readonly string[]): boolean {
  return JSON.stringify([...actual].sort()) === JSON.stringify([...expected].sort());
}

function describeDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map((d) => `  ${d.severity} ${d.code} ${d.file}:${d.line}:${d.column} ${d.message}`).join('\n') || '  (none)';
}

/** Checks column and message of each expected diagnostic against one actual diagnostic at the same place. */
function detailsMismatch(expected: ExpectedDiagnostic, candidates: readonly Diagnostic[]): string | undefined {
  const atPlace = candidates.filter((d) => key(d) === key(expected) && d.severity === (expected.severity ?? 'error'));
  const match = atPlace.find((d) => (expected.column === undefined || d.column === expected.column) && (expected.message === undefined || d.message.includes(expected.message)));
  if (match) return undefined;
  const wanted = [expected.column !== undefined && `column ${expected.column}`, expected.message !== undefined && `a message containing ${JSON.stringify(expected.message)}`].filter(Boolean).join(' and ');
  return `${key(expected)}: expected ${wanted || 'a diagnostic'}`;
}

describe('invalid definition sets', () => {
  it('has at least 40 of them', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40);
  });

  for (const fixture of fixtures) {
    it(`${fixture.name}: ${fixture.expected.description}`, async () => {
      const { expected } = fixture;
      const result = await loadFixture(fixture);
      expect(exitCodeOf(result), `exit code of ${fixture.name}`).toBe(expected.exitCode);
      if ('unusable' in expected) {
        expect(result.unusable, 'the input is unusable').toBeTruthy();
        if (expected.message) expect(result.unusable).toContain(expected.message);
        return;
      }
      expect(result.unusable).toBeUndefined();
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      const expectedErrors = expected.diagnostics.filter((d) => (d.severity ?? 'error') === 'error');
      expect(result.errorCount, 'errorCount counts the error diagnostics').toBe(errors.length);
      const report = `reported:\n${describeDiagnostics(result.diagnostics)}`;
      expect(sameMultiset(errors.map(key), expectedErrors.map(key)), `errors of ${fixture.name} (code file:line)\nexpected: ${expectedErrors.map(key).join(', ')}\n${report}`).toBe(true);
      for (const warning of expected.diagnostics.filter((d) => d.severity === 'warning')) {
        expect(result.diagnostics.some((d) => d.severity === 'warning' && key(d) === key(warning)), `warning ${key(warning)}\n${report}`).toBe(true);
      }
      const mismatches = expected.diagnostics.map((d) => detailsMismatch(d, result.diagnostics)).filter((m): m is string => m !== undefined);
      expect(mismatches, report).toEqual([]);
      for (const d of result.diagnostics) {
        expect(d.line, `${key(d)} has a line`).toBeGreaterThanOrEqual(1);
        expect(d.column, `${key(d)} has a column`).toBeGreaterThanOrEqual(1);
      }
    });
  }

  it('covers every diagnostic code, except the ones that cannot be triggered', () => {
    const covered = new Set(fixtures.flatMap((f) => ('diagnostics' in f.expected ? f.expected.diagnostics.map((d) => d.code) : [])));
    const missing = (Object.keys(DIAGNOSTIC_CODES) as DiagnosticCode[]).filter((code) => !covered.has(code) && !CANNOT_BE_TRIGGERED.has(code));
    expect(missing, 'codes with no fixture: add one under test/fixtures/invalid/').toEqual([]);
    const coveredAnyway = [...CANNOT_BE_TRIGGERED.keys()].filter((code) => covered.has(code));
    expect(coveredAnyway, 'codes on the cannot-be-triggered list that a fixture triggers: remove them from the list').toEqual([]);
    for (const code of CANNOT_BE_TRIGGERED.keys()) expect(Object.keys(DIAGNOSTIC_CODES)).toContain(code);
  });

  it('gives each fixture a description and the errors it expects', () => {
    for (const fixture of fixtures) {
      expect(fixture.expected.description, fixture.name).toMatch(/\S/);
      if ('diagnostics' in fixture.expected) {
        expect(fixture.expected.diagnostics.length, `${fixture.name} lists the errors it expects`).toBeGreaterThan(0);
        expect(fixture.expected.exitCode, fixture.name).toBe(1);
      }
    }
  });
});
