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

const standaloneCode = ((standaloneModule as unknown as { default?: typeof standaloneModule }).default ?? standaloneModule) as unknown as (
  ajv: Ajv2020,
  refsOrValidate?: unknown,
) => string;

/**
 * Turns ajv standalone code into ES-module code. ajv emits `require()` for its runtime helpers
 * (`ajv/dist/runtime/*`, `ajv-formats/dist/formats`) even in ESM mode; each becomes a module-level
 * binding imported with an explicit `.js` path (Node's ESM resolver needs it). `modules` collects the
 * imports across several pieces of code; `esmImports` renders them once at the top of the file.
 */
export function standaloneModuleCode(ajv: Ajv2020, refsOrValidate: unknown, modules: Map<string, string>): string {
  return standaloneCode(ajv, refsOrValidate)
    .replace(/^"use strict";/, '')
    .replace(/require\("([^"]+)"\)/g, (_match, specifier: string) => {
      const path = specifier.endsWith('.js') ? specifier : `${specifier}.js`;
      if (!modules.has(path)) modules.set(path, `ajvRuntime${modules.size}`);
      return modules.get(path)!;
    });
}

/**
 * The import lines for `modules`. A CommonJS module imported as a namespace holds module.exports under
 * `default` in Node; bundlers and Vite unwrap an `__esModule` module's `default`. Each binding is
 * module.exports either way.
 */
export function esmImports(modules: ReadonlyMap<string, string>): string[] {
  return [...modules].flatMap(([path, name]) => [
    `import * as ${name}Namespace from ${JSON.stringify(path)};`,
    `const ${name} = ${name}Namespace.default?.__esModule ? ${name}Namespace.default : ${name}Namespace;`,
  ]);
}

/** A whole ES module of precompiled validators. The ajv instance needs `code: { source: true, esm: true }`. */
export function standaloneEsm(ajv: Ajv2020, refs?: Record<string, string>): string {
  const modules = new Map<string, string>();
  const code = standaloneModuleCode(ajv, refs, modules);
  return [...esmImports(modules), code].join('\n');
}
