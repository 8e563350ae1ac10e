import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';

/** The golden fixtures: recorded input sequences and the outputs worked out by hand for each stream. */
export const GOLDEN_DIR = resolve(import.meta.dirname, 'golden');
export const GOLDEN_DEFINITIONS = readFileSync(resolve(GOLDEN_DIR, 'definitions.yaml'), 'utf8');

export interface GoldenInput {
  readonly id: string;
  readonly type: string;
  readonly at: string;
  readonly data: Record<string, unknown>;
}

export interface GoldenOutput {
  readonly at: string;
  readonly data: Record<string, unknown>;
}

export interface GoldenExpectation {
  readonly outputs: readonly GoldenOutput[];
  readonly dropped: Readonly<Record<string, number>>;
}

export interface GoldenCase {
  readonly name: string;
  readonly ordered: boolean;
  readonly input: readonly GoldenInput[];
  readonly expected: Readonly<Record<string, GoldenExpectation>>;
}

export interface GoldenFixture {
  readonly name: string;
  readonly date: string;
  readonly cases: readonly GoldenCase[];
}

interface RawCase extends Omit<GoldenCase, 'expected'> {
  readonly expected: Readonly<Record<string, GoldenExpectation>> | 'same as in order';
  readonly duplicates?: Readonly<Record<string, number>>;
}

/** Reads a fixture; a case "same as in order" takes the first case's expectations, plus its duplicates. */
export function readFixture(name: string): GoldenFixture {
  const raw = JSON.parse(readFileSync(resolve(GOLDEN_DIR, `${name}.json`), 'utf8')) as { date: string; cases: RawCase[] };
  const first = raw.cases[0]!.expected as Record<string, GoldenExpectation>;
  const cases = raw.cases.map((entry): GoldenCase => {
    const base = entry.expected === 'same as in order' ? first : entry.expected;
    const expected = Object.fromEntries(
      Object.entries(base).map(([stream, expectation]) => {
        const duplicates = entry.duplicates?.[stream];
        return [stream, duplicates ? { ...expectation, dropped: { ...expectation.dropped, duplicate: duplicates } } : expectation];
      }),
    );
    return { name: entry.name, ordered: entry.ordered, input: entry.input, expected };
  });
  return { name, date: raw.date, cases };
}

export function toEnvelope(fixture: GoldenFixture, input: GoldenInput): Envelope {
  return createEnvelope(input.type, input.data, 'golden', { id: input.id, time: `${fixture.date}T${input.at}Z`, dataversion: 1 });
}

/** An output as the fixtures write it: its time of day and its data. */
export function asGolden(envelope: Envelope): GoldenOutput {
  return { at: envelope.time.slice(11, 19), data: envelope.data as Record<string, unknown> };
}

/** Outputs in a canonical order, for cases whose arrival order may change the order (not the set) of outputs. */
export function canonical(outputs: readonly GoldenOutput[]): GoldenOutput[] {
  return [...outputs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

export async function goldenDefinitions(): Promise<Definitions> {
  const result = await loadDefinitions('/golden', { fileSystem: memoryFileSystem({ 'streams.yaml': GOLDEN_DEFINITIONS }, '/golden') });
  if (!result.definitions) throw new Error(`golden definitions are invalid: ${JSON.stringify(result.diagnostics, null, 2)}`);
  return result.definitions;
}

export const FIXTURES = ['join', 'windows'] as const;
