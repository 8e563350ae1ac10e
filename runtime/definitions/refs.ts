import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { DiagnosticBag, Location } from './diagnostics.js';
import { fileData, locate, parseSource, type Path, type SourceFile } from './source.js';

/** Where a (sub)schema came from, so errors inside a `$ref`'d file point into that file. */
export interface SchemaOrigin {
  readonly file: SourceFile;
  readonly path: Path;
  /** Sub-paths of the schema that were replaced by the contents of a referenced file. */
  readonly refs: readonly { readonly at: Path; readonly file: SourceFile }[];
}

export interface RefContext {
  /** Absolute path of the definitions directory: `$ref`s may not leave it. */
  readonly root: string;
  readonly diagnostics: DiagnosticBag;
  /** Reads a file (the loader's file system, real or in memory); throws when missing. */
  readonly read: (absolutePath: string) => string;
  readonly display: (absolutePath: string) => string;
  /** Parsed files by absolute path; an Error when the file could not be read. */
  readonly cache: Map<string, SourceFile | Error>;
}

const MAX_DEPTH = 16;

/** `$ref` URLs that would mean reading a file or fetching from the network (other URIs may name a schema's own `$id`s). */
const FETCHED_SCHEMES = /^(file|https?):/i;

/**
 * Replaces every `{ $ref: ./file.json }` (a relative file, not a `#/` pointer) inside a JSON Schema
 * with that file's contents, recursively; sibling keys next to `$ref` win over the file's. Returns the
 * resolved schema and its origin map. A missing, unreadable or escaping reference is reported at its line.
 */
export function resolveSchemaRefs(schema: unknown, file: SourceFile, path: Path, context: RefContext): { schema: unknown; origin: SchemaOrigin } {
  const refs: { at: Path; file: SourceFile }[] = [];
  const resolved = visit(schema, file, path, [], 0);
  return { schema: resolved, origin: { file, path, refs } };

  function visit(value: unknown, current: SourceFile, at: Path, schemaPath: Path, depth: number): unknown {
    if (Array.isArray(value)) return value.map((item, i) => visit(item, current, [...at, i], [...schemaPath, i], depth));
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    const target = object['$ref'];
    if (typeof target === 'string' && FETCHED_SCHEMES.test(target)) {
      // Nothing is fetched or read from outside: the schema would fail at startup with "can't resolve reference".
      context.diagnostics.add('EDA_REF_OUTSIDE', `$ref "${target}" names a URL: reference a file below ${context.display(context.root)} by a relative path, or a #/ pointer`, locate(current, [...at, '$ref']));
      return Object.fromEntries(Object.entries(object).filter(([key]) => key !== '$ref'));
    }
    if (typeof target === 'string' && !target.startsWith('#') && !/^[a-z]+:/i.test(target)) {
      const loaded = load(target, current, [...at, '$ref'], depth);
      if (!loaded) return Object.fromEntries(Object.entries(object).filter(([key]) => key !== '$ref'));
      refs.push({ at: schemaPath, file: loaded.file });
      const inner = visit(loaded.data, loaded.file, [], schemaPath, depth + 1);
      const siblings = Object.fromEntries(Object.entries(object).filter(([key]) => key !== '$ref').map(([key, child]) => [key, visit(child, current, [...at, key], [...schemaPath, key], depth)]));
      return inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? { ...(inner as object), ...siblings } : inner;
    }
    return Object.fromEntries(Object.entries(object).map(([key, child]) => [key, visit(child, current, [...at, key], [...schemaPath, key], depth)]));
  }

  function load(target: string, from: SourceFile, at: Path, depth: number): { file: SourceFile; data: unknown } | undefined {
    const where: Location = locate(from, at);
    const absolute = resolve(dirname(from.absolutePath), target);
    const escape = escapeOf(context.root, absolute);
    if (escape) {
      context.diagnostics.add('EDA_REF_OUTSIDE', `$ref "${target}" points outside the definitions directory${escape === 'symlink' ? ' (through a symbolic link)' : ''}: only files below ${context.display(context.root)} may be referenced`, where);
      return undefined;
    }
    if (depth >= MAX_DEPTH) {
      context.diagnostics.add('EDA_REF_UNREADABLE', `$ref "${target}" nests more than ${MAX_DEPTH} files deep (a cycle?)`, where);
      return undefined;
    }
    let loaded = context.cache.get(absolute);
    if (loaded === undefined) {
      loaded = readSchemaFile(absolute);
      context.cache.set(absolute, loaded);
    }
    if (loaded instanceof Error) {
      if (['ENOENT', 'ENOTDIR'].includes((loaded as NodeJS.ErrnoException).code ?? '')) context.diagnostics.add('EDA_REF_NOT_FOUND', `$ref "${target}": no such file ${context.display(absolute)}`, where);
      else context.diagnostics.add('EDA_REF_UNREADABLE', `$ref "${target}": ${context.display(absolute)} cannot be read (${(loaded as NodeJS.ErrnoException).code ?? loaded.message})`, where);
      return undefined;
    }
    if (loaded.document.errors.length) {
      context.diagnostics.add('EDA_REF_UNREADABLE', `$ref "${target}": ${context.display(absolute)} is not valid JSON or YAML`, where);
      return undefined;
    }
    const expanded = fileData(loaded, context.diagnostics);
    if (!expanded) {
      context.diagnostics.add('EDA_REF_UNREADABLE', `$ref "${target}": ${context.display(absolute)} cannot be expanded`, where);
      return undefined;
    }
    return { file: loaded, data: expanded.data };
  }

  function readSchemaFile(absolute: string): SourceFile | Error {
    let text: string;
    try {
      text = context.read(absolute);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    return parseSource(absolute, context.display(absolute), text, context.diagnostics);
  }
}

/**
 * Whether a referenced file lies outside the root: by its path (`../`, an absolute path elsewhere), or,
 * for a file on disk, by where it really is, so a symbolic link inside the directory cannot lead out of
 * it. A file only in memory (tests) has no real path and is judged by its path alone.
 */
function escapeOf(root: string, absolute: string): 'path' | 'symlink' | undefined {
  if (outside(root, absolute)) return 'path';
  const real = realPath(absolute);
  return real !== undefined && outside(realPath(root) ?? root, real) ? 'symlink' : undefined;
}

function outside(root: string, absolute: string): boolean {
  const inside = relative(root, absolute);
  return inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The location of a path inside a resolved schema, following `$ref` substitutions into their files. */
export function locateInSchema(origin: SchemaOrigin, schemaPath: Path, target: 'key' | 'value' = 'value'): Location {
  let best: { at: Path; file: SourceFile } | undefined;
  for (const ref of origin.refs) {
    const isPrefix = ref.at.length <= schemaPath.length && ref.at.every((segment, i) => String(segment) === String(schemaPath[i]));
    if (isPrefix && (!best || ref.at.length > best.at.length)) best = ref;
  }
  if (best) return locate(best.file, schemaPath.slice(best.at.length), target);
  return locate(origin.file, [...origin.path, ...schemaPath], target);
}
