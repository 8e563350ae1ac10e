import type { DiagnosticCode } from '../../errors/index.js';
import type { DiagnosticBag } from '../diagnostics.js';
import type { Entry, Merged, NamedSection } from '../merge.js';
import { locate, type Path } from '../source.js';
import { closestName } from '../suggest.js';

/** What every semantic check gets: the merged definitions and a way to report at a place inside one. */
export class CheckContext {
  /**
   * @param complete false when some file could not be read whole: a name it may define is then not
   *   reported as unknown — one YAML mistake would otherwise echo as "unknown ..." in every other file.
   */
  constructor(readonly merged: Merged, readonly diagnostics: DiagnosticBag, readonly complete = true) {}

  /** The definitions of a section that passed the structural check (the others already have errors). */
  sound(section: NamedSection): Entry[] {
    return [...this.merged.sections[section].values()].filter((entry) => entry.sound);
  }

  has(section: NamedSection, name: string): boolean {
    return this.merged.sections[section].has(name);
  }

  report(code: DiagnosticCode, message: string, entry: Entry<unknown>, path: Path = [], target: 'key' | 'value' = 'value'): void {
    this.diagnostics.add(code, message, locate(entry.origin.file, [...entry.origin.path, ...path], target));
  }

  warn(code: DiagnosticCode, message: string, entry: Entry<unknown>, path: Path = []): void {
    this.diagnostics.warn(code, message, locate(entry.origin.file, [...entry.origin.path, ...path]));
  }

  /**
   * Reports `name` unless it is defined in one of `sections`. `path` points at the reference itself.
   * Returns whether it exists.
   */
  expect(name: unknown, sections: readonly NamedSection[], code: DiagnosticCode, entry: Entry<unknown>, path: Path, target: 'key' | 'value' = 'value'): boolean {
    if (typeof name !== 'string') return false;
    if (sections.some((section) => this.has(section, name))) return true;
    if (!this.complete) return false;
    const known = sections.flatMap((section) => [...this.merged.sections[section].keys()]);
    const hint = closestName(name, known);
    const noun = sections.map((s) => s.replace(/s$/, '').replace(/ie$/, 'y')).join(' or ');
    this.report(code, `unknown ${noun} "${name}"${hint ? ` — did you mean "${hint}"?` : ''}`, entry, path, target);
    return false;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `x` or `[x, y]` as entries with their paths: a one-name form points at the value, a list at each item. */
export function namesAt(value: unknown, path: Path): { name: string; path: Path }[] {
  if (typeof value === 'string') return [{ name: value, path }];
  if (Array.isArray(value)) return value.flatMap((item, i) => (typeof item === 'string' ? [{ name: item, path: [...path, i] }] : []));
  return [];
}
