import { jsonPointer } from '../core/json-schema.js';
import type { DiagnosticBag } from './diagnostics.js';
import type { Defined } from './model.js';
import { locate, type SourceFile } from './source.js';
import { NOT_A_MAPPING, type StructureProblems } from './structure.js';
import { NAMED_SECTIONS, type SectionName } from './spec/index.js';

/** A definition as written, before the semantic checks; `sound` is false when its shape broke the schema. */
export interface Entry<T = Record<string, unknown>> extends Defined<T> {
  readonly sound: boolean;
}

export type NamedSection = Exclude<SectionName, 'stores' | 'defaults'>;

/** All files' definitions merged by section. Names are unique per section; duplicates are reported. */
export interface Merged {
  readonly sections: Record<NamedSection, Map<string, Entry>>;
  /** `stores` and `defaults` are merged key by key. */
  readonly settings: Record<'stores' | 'defaults', Map<string, Entry<unknown>>>;
}

export function emptyMerged(): Merged {
  return {
    sections: Object.fromEntries(NAMED_SECTIONS.map((name) => [name, new Map()])) as Merged['sections'],
    settings: { stores: new Map(), defaults: new Map() },
  };
}

/**
 * Adds one file's sections; a name already defined (here or in another file) is reported at both places.
 * Returns false when part of the file could not be merged (not a mapping, an unknown section, a section
 * that is not a mapping): what it meant to define is unknown, so references to it cannot be judged.
 */
export function mergeFile(merged: Merged, file: SourceFile, data: unknown, problems: StructureProblems, diagnostics: DiagnosticBag): boolean {
  if (data === null || data === undefined) return true;
  if (typeof data !== 'object' || Array.isArray(data) || problems.has(NOT_A_MAPPING)) return false;
  let complete = true;
  for (const [section, value] of Object.entries(data as Record<string, unknown>)) {
    if (section === 'edaflow' || value === null) continue;
    const target = (merged.sections as Record<string, Map<string, Entry>>)[section] ?? (merged.settings as Record<string, Map<string, Entry<unknown>>>)[section];
    if (!target || typeof value !== 'object' || Array.isArray(value)) {
      complete = false;
      continue;
    }
    for (const [name, spec] of Object.entries(value as Record<string, unknown>)) {
      const path = [section, name];
      const pointer = jsonPointer(path);
      const sound = ![...problems].some((broken) => broken !== '' && (broken === pointer || broken.startsWith(pointer + '/') || pointer.startsWith(broken + '/') || broken === jsonPointer([section])));
      const entry: Entry = { name, spec: spec as Record<string, unknown>, origin: { file, path }, sound };
      const existing = target.get(name);
      if (existing) {
        reportDuplicate(section, name, existing, entry, diagnostics);
      } else {
        target.set(name, entry);
      }
    }
  }
  return complete;
}

function reportDuplicate(section: string, name: string, first: Entry<unknown>, second: Entry<unknown>, diagnostics: DiagnosticBag): void {
  const firstAt = locate(first.origin.file, first.origin.path, 'key');
  const secondAt = locate(second.origin.file, second.origin.path, 'key');
  if (first.origin.file === second.origin.file) return; // a repeated key in one file is reported by the YAML check
  const what = section === 'stores' || section === 'defaults' ? `${section}.${name}` : `"${name}" in ${section}`;
  diagnostics.add('EDA_DUPLICATE_NAME', `${what} is defined twice (also at ${firstAt.file}:${firstAt.line})`, secondAt, {
    related: [{ ...firstAt, message: 'first definition' }],
  });
  diagnostics.add('EDA_DUPLICATE_NAME', `${what} is defined twice (also at ${secondAt.file}:${secondAt.line})`, firstAt, {
    related: [{ ...secondAt, message: 'second definition' }],
  });
}
