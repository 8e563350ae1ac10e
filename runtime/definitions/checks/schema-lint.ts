import type { Path } from '../source.js';

/** Keywords of JSON Schema draft 2020-12 (core, applicator, validation, format, content, meta-data, unevaluated). */
const KEYWORDS = new Set([
  '$schema', '$id', '$ref', '$anchor', '$dynamicRef', '$dynamicAnchor', '$vocabulary', '$comment', '$defs', 'definitions',
  'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', 'dependentSchemas', 'prefixItems', 'items', 'contains',
  'properties', 'patternProperties', 'additionalProperties', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties',
  'type', 'const', 'enum', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength',
  'pattern', 'maxItems', 'minItems', 'uniqueItems', 'maxContains', 'minContains', 'maxProperties', 'minProperties', 'required',
  'dependentRequired', 'format', 'contentEncoding', 'contentMediaType', 'contentSchema',
  'title', 'description', 'default', 'deprecated', 'readOnly', 'writeOnly', 'examples',
]);
/** Keywords whose value is a schema, a list of schemas, or a map of names to schemas. */
const SCHEMA_VALUED = new Set(['not', 'if', 'then', 'else', 'items', 'contains', 'additionalProperties', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const SCHEMA_MAPS = new Set(['$defs', 'definitions', 'properties', 'patternProperties', 'dependentSchemas']);

export interface SchemaLint {
  readonly path: Path;
  /** Point at the key (an unknown keyword) or at its value (a dangling reference). */
  readonly target: 'key' | 'value';
  readonly message: string;
}

/**
 * What a JSON Schema compiler in strict mode refuses but the meta-schema allows: unknown keywords (a
 * misspelt `requird` would silently validate nothing) and local `$ref`s that point nowhere. A fast,
 * static check, so `validate` need not compile every schema.
 */
export function lintSchema(schema: unknown): SchemaLint[] {
  const problems: SchemaLint[] = [];
  visit(schema, []);
  return problems;

  function visit(node: unknown, path: Path): void {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const at = [...path, key];
      if (!KEYWORDS.has(key)) problems.push({ path: at, target: 'key', message: `unknown keyword "${key}"` });
      else if (SCHEMA_VALUED.has(key)) visit(value, at);
      else if (SCHEMA_LISTS.has(key) && Array.isArray(value)) value.forEach((item, i) => visit(item, [...at, i]));
      else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object') for (const [name, child] of Object.entries(value)) visit(child, [...at, name]);
      else if (key === '$ref' && typeof value === 'string' && value.startsWith('#') && !resolves(schema, value)) problems.push({ path: at, target: 'value', message: `$ref "${value}" points to nothing in this schema` });
    }
  }
}

function resolves(root: unknown, ref: string): boolean {
  if (ref === '#') return true;
  if (!ref.startsWith('#/')) return hasAnchor(root, ref.slice(1));
  let node = root;
  for (const raw of ref.slice(2).split('/')) {
    const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(segment in node)) return false;
    node = (node as Record<string, unknown>)[segment];
  }
  return true;
}

function hasAnchor(node: unknown, anchor: string): boolean {
  if (node === null || typeof node !== 'object') return false;
  if ((node as Record<string, unknown>)['$anchor'] === anchor) return true;
  return Object.values(node).some((child) => hasAnchor(child, anchor));
}
