import type { AnySchemaObject, ValidateFunction } from 'ajv/dist/2020.js';
import { parseJsonPointer, type ErrorObject } from '../core/json-schema.js';
import type { DiagnosticCode } from '../errors/index.js';
import type { DiagnosticBag } from './diagnostics.js';
import { DURATION_HINT } from './duration.js';
import { locate, type Path, type SourceFile } from './source.js';
import { PATTERNS, SECTION_NAMES, type PatternName } from './spec/index.js';
import fileValidator from './spec/file-validator.generated.js';
import { closestName } from './suggest.js';

const PATTERN_HINTS: Partial<Record<PatternName, string>> = {
  'message-name': 'letters, digits and _, starting with a letter (it becomes a TypeScript type name)',
  'code-name': 'letters, digits and _, not starting with a digit (it becomes a TypeScript identifier)',
  'destination-name': 'letters, digits, ".", "_" and "-", starting with a letter or digit',
  'sql-name': 'lower-case letters, digits and _, not starting with a digit (it becomes an SQL identifier)',
};
const PATTERN_NAMES = new Map(Object.entries(PATTERNS).map(([name, pattern]) => [pattern as string, name as PatternName]));

/** The language's validator, compiled ahead of time by `npm run schemas` (scripts/generate-schemas.ts). */
const validateFile = fileValidator as unknown as ValidateFunction;

/** Checks one parsed file against the language's JSON Schema and reports each problem at its node. */
export function checkStructure(file: SourceFile, data: unknown, diagnostics: DiagnosticBag): StructureProblems {
  if (data === null || data === undefined) return new Set(); // an empty file is allowed
  if (typeof data !== 'object' || Array.isArray(data)) {
    diagnostics.add('EDA_NOT_A_MAPPING', 'a definitions file must be a mapping of sections (brokers, events, ...)', locate(file, []));
    return new Set([NOT_A_MAPPING]);
  }
  if (validateFile(data)) return new Set();
  const errors = withoutMisspeltRequired(relevantErrors(validateFile.errors ?? []));
  // A value of the wrong type for an enum: "must be one of ..." says it all.
  const reported = errors.filter((e) => !(e.keyword === 'type' && errors.some((other) => other.keyword === 'enum' && other.instancePath === e.instancePath)));
  for (const error of reported) report(file, error, diagnostics);
  // A misspelt key (one with a did-you-mean) leaves its definition meaning something else than intended:
  // checking what it means would only echo the typo ("`update` needs `where`" after "wehre").
  return new Set(errors.filter((error) => SHAPE_KEYWORDS.has(error.keyword) || (error.keyword === 'additionalProperties' && meantKey(error) !== undefined)).map((error) => error.instancePath));
}

/** JSON pointers of the values that broke the schema; definitions below them skip the semantic checks. */
export type StructureProblems = ReadonlySet<string>;
export const NOT_A_MAPPING = '<not a mapping>';
/** Errors that mean a value does not have the shape the checks expect (the others leave it usable). */
const SHAPE_KEYWORDS = new Set(['type', 'anyOf', 'const']);

/**
 * ajv reports every failed branch of an `anyOf` and the `if` of every if/then. Keep what a person needs:
 * when the value got past a branch's type check, the deeper errors of that branch; otherwise one error
 * for the whole alternative.
 *
 * A branch's errors are found by place, not by schema path (a branch behind a `$ref` has the path of its
 * definition): ajv pushes them just before the `anyOf` error, all at the value or below it. A branch the
 * value's type does not fit leaves only a `type` (or `const`) error at the value itself.
 */
export function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const dropped = new Set<ErrorObject>();
  for (const error of errors) {
    if (error.keyword === 'if') dropped.add(error);
    // A bad key yields the inner error (pattern: it carries `propertyName`) and an outer `propertyNames` one; keep the inner.
    if (error.keyword === 'propertyNames' && errors.some((inner) => inner !== error && propertyNameOf(inner) === error.params?.['propertyName'] && inner.instancePath === error.instancePath)) dropped.add(error);
  }
  errors.forEach((alternative, index) => {
    if (alternative.keyword !== 'anyOf') return;
    const at = alternative.instancePath;
    let start = index;
    while (start > 0 && (errors[start - 1]!.instancePath === at || errors[start - 1]!.instancePath.startsWith(at + '/'))) start--;
    const branchErrors = errors.slice(start, index);
    const misfits = branchErrors.filter((e) => e.instancePath === at && (e.keyword === 'type' || e.keyword === 'const'));
    const fitting = branchErrors.length > misfits.length;
    for (const e of fitting ? [alternative, ...misfits] : branchErrors) dropped.add(e);
  });
  return dedupe(errors.filter((e) => !dropped.has(e)));
}

/**
 * A misspelt required key is one mistake, not two: keep "unknown key "tpoic" — did you mean "topic"?" and
 * drop "missing required key "topic"" at the same object.
 */
function withoutMisspeltRequired(errors: ErrorObject[]): ErrorObject[] {
  const misspelt = new Set(errors.filter((e) => e.keyword === 'additionalProperties').map((e) => `${e.instancePath}|${meantKey(e) ?? ''}`));
  return errors.filter((e) => e.keyword !== 'required' || !misspelt.has(`${e.instancePath}|${String(e.params['missingProperty'])}`));
}

/** For an unknown key, the known key it is probably a misspelling of. */
function meantKey(error: ErrorObject): string | undefined {
  const known = Object.keys(((error.parentSchema as AnySchemaObject | undefined)?.['properties'] as object | undefined) ?? {});
  return closestName(String(error.params['additionalProperty']), known);
}

/** The key an error is about, when it comes from a `propertyNames` subschema (ajv sets it on the error, not in params). */
function propertyNameOf(error: ErrorObject): string | undefined {
  const name = (error as ErrorObject & { propertyName?: unknown }).propertyName;
  return typeof name === 'string' ? name : undefined;
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}|${propertyNameOf(e) ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function report(file: SourceFile, error: ErrorObject, diagnostics: DiagnosticBag): void {
  const path: Path = parseJsonPointer(error.instancePath).map((s) => (/^\d+$/.test(s) ? Number(s) : s)); // map lookups compare as strings
  const where = path.length ? `"${path.join('.')}"` : 'the file';
  const add = (code: DiagnosticCode, message: string, target: 'key' | 'value' = 'value', at: Path = path) => diagnostics.add(code, message, locate(file, at, target));
  const params = error.params as Record<string, unknown>;
  const parent = error.parentSchema as AnySchemaObject | undefined;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const known = Object.keys((parent?.['properties'] as object | undefined) ?? {});
      const hint = closestName(key, known);
      if (path.length === 0) {
        add('EDA_UNKNOWN_SECTION', `unknown section "${key}"${hint ? ` — did you mean "${hint}"?` : ''} (sections: ${SECTION_NAMES.join(', ')})`, 'key', [key]);
      } else {
        add('EDA_UNKNOWN_KEY', `unknown key "${key}" in ${where}${hint ? ` — did you mean "${hint}"?` : known.length ? ` (allowed: ${known.join(', ')})` : ''}`, 'key', [...path, key]);
      }
      return;
    }
    case 'required':
      add('EDA_MISSING_KEY', `${where} is missing required key "${String(params['missingProperty'])}"`, 'key');
      return;
    case 'type':
      add('EDA_TYPE', `${where} must be ${article(String(params['type']))}${describeSchema(parent)}`);
      return;
    case 'anyOf':
      add('EDA_TYPE', `${where} has the wrong form${describeSchema(parent)}`);
      return;
    case 'enum':
      add('EDA_ENUM', `${where} must be one of: ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
      return;
    case 'const':
      if (path.length === 1 && path[0] === 'edaflow') add('EDA_LANGUAGE_VERSION', `edaflow: ${JSON.stringify(error.data)} is not a language version this release knows; use edaflow: 1`);
      else add('EDA_INVALID_VALUE', `${where} must be ${JSON.stringify(params['allowedValue'])}`);
      return;
    case 'pattern':
      reportPattern(String(params['pattern']), error, path, where, add);
      return;
    case 'propertyNames':
      add('EDA_INVALID_NAME', `"${String(params['propertyName'])}" is not a valid name in ${where}`, 'key', [...path, String(params['propertyName'])]);
      return;
    case 'minProperties':
    case 'maxProperties':
      add('EDA_INVALID_VALUE', `${where} ${error.message ?? 'has the wrong number of keys'}${describeSchema(parent)}`);
      return;
    default:
      add('EDA_INVALID_VALUE', `${where} ${error.message ?? 'is invalid'}`);
  }
}

function reportPattern(pattern: string, error: ErrorObject, path: Path, where: string, add: (code: DiagnosticCode, message: string, target?: 'key' | 'value', at?: Path) => void): void {
  const propertyName = propertyNameOf(error);
  const kind = PATTERN_NAMES.get(pattern);
  const subject = propertyName !== undefined ? `"${String(propertyName)}"` : `${where} (${JSON.stringify(error.data)})`;
  const target = propertyName !== undefined ? 'key' : 'value';
  const at = propertyName !== undefined ? [...path, String(propertyName)] : path;
  if (kind === 'duration') add('EDA_INVALID_DURATION', `${subject} is not a duration: ${DURATION_HINT}`, target, at);
  else if (kind === 'version') add('EDA_INVALID_NAME', `${subject} is not a version: versions are whole numbers from 1`, target, at);
  else if (kind) add('EDA_INVALID_NAME', `${subject} is not a valid name: use ${PATTERN_HINTS[kind]}`, target, at);
  else add('EDA_INVALID_VALUE', `${subject} must match ${pattern}`, target, at);
}

function article(type: string): string {
  const words = type.split(',').map((t) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`));
  return words.join(' or ');
}

function describeSchema(schema: AnySchemaObject | undefined): string {
  const description = schema?.['description'];
  return typeof description === 'string' ? ` (${description.replace(/\.$/, '')})` : '';
}

