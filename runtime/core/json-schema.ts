import { Ajv2020, type ErrorObject, type Options } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import standaloneModule from 'ajv/dist/standalone/index.js';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module object.
const addFormats = ((formatsModule as unknown as { default?: typeof formatsModule }).default ?? formatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

export type { ErrorObject };
export { Ajv2020 };

/** An ajv instance for users' message schemas (draft 2020-12, standard formats, every error reported). */
export function createMessageAjv(options: Options = {}): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, ...options });
  addFormats(ajv);
  return ajv;
}

/** RFC 6901 JSON pointer for a path. */
export function jsonPointer(path: readonly (string | number)[]): string {
  return path.map((segment) => '/' + String(segment).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export function parseJsonPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const standaloneCode = ((standaloneModule as unknown as { default?: typeof standaloneModule }).default ?? standaloneModule) as unknown as (ajv: Ajv2020, refs?: Record<string, string>) => string;

/**
 * ESM source of precompiled validators (ajv standalone). ajv emits `require()` for its runtime helpers
 * even in ESM mode; those become imports with explicit `.js` paths, as Node's ESM resolver needs.
 * The ajv instance must have been created with `code: { source: true, esm: true }`.
 */
export function standaloneEsm(ajv: Ajv2020, refs?: Record<string, string>): string {
  const imports = new Map<string, string>();
  const code = standaloneCode(ajv, refs).replace(/require\("([^"]+)"\)(\.default)?/g, (_match, specifier: string, isDefault: string | undefined) => {
    const path = specifier.endsWith('.js') ? specifier : `${specifier}.js`;
    const name = `runtime_${imports.size}_${path.replace(/\W+/g, '_')}`;
    if (!imports.has(path)) imports.set(path, name);
    // A namespace import of a CommonJS module holds module.exports under `default`.
    return `${imports.get(path)!}.default${isDefault ?? ''}`;
  });
  const header = [...imports].map(([path, name]) => `import * as ${name} from ${JSON.stringify(path)};`).join('\n');
  return (header ? header + '\n' : '') + code.replace(/^"use strict";/, '');
}
