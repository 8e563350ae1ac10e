import { createMessageAjv, esmImports, standaloneModuleCode } from '../runtime/core/json-schema.js';
import type { CodegenPlan } from './plan.js';
import { docComment, propertyKey } from './text.js';

/**
 * `validators.js` and `validators.d.ts`: ajv validators compiled ahead of time for every event version
 * and command, with the options the runtime validates with (draft 2020-12, formats, all errors).
 *
 * Each validator's standalone code is wrapped in its own function scope: ajv names shared helpers the
 * same way in every one, and a user's schemas may repeat an `$id` across versions, so they cannot be
 * compiled into one module scope. ajv's code `require`s its runtime helpers (`ajv/dist/runtime/*`,
 * `ajv-formats/dist/formats`) even with `code.esm`; those become ES imports, so the file loads in
 * Node's ESM loader and in bundlers alike, and needs only `ajv` and `ajv-formats` at run time.
 */
export function generateValidators(plan: CodegenPlan): { js: string; dts: string } {
  // addUsedSchema: false — a schema's `$id` may repeat across versions; each is compiled on its own.
  const ajv = createMessageAjv({ addUsedSchema: false, code: { source: true, lines: false } });
  const entries: { name: string; type: string; schema: unknown }[] = [
    ...plan.events.flatMap((event) => event.versions.map((version) => ({ name: `validate${version.typeName}`, type: version.typeName, schema: version.schema }))),
    ...plan.commands.map((command) => ({ name: `validate${command.typeName}`, type: command.typeName, schema: command.schema })),
  ];

  const modules = new Map<string, string>();
  const validators: string[] = [];
  for (const entry of entries) {
    const code = standaloneModuleCode(ajv, ajv.compile(entry.schema as object), modules);
    validators.push('', `export const ${entry.name} = /* @__PURE__ */ (() => {`, '  const module = { exports: {} };', `  ${code}`, '  return module.exports;', '})();');
  }
  const js: string[] = esmImports(modules);
  js.push(...validators);
  const latest = plan.events.map((event) => `export const validate${event.typeName} = validate${event.versions[event.versions.length - 1]!.typeName};`);
  if (latest.length) js.push('', ...latest);
  js.push(
    '',
    'export const eventValidators = {',
    ...plan.events.map((event) => `  ${propertyKey(event.name)}: { ${event.versions.map((version) => `${version.version}: validate${version.typeName}`).join(', ')} },`),
    '};',
    '',
    'export const commandValidators = {',
    ...plan.commands.map((command) => `  ${propertyKey(command.name)}: validate${command.typeName},`),
    '};',
  );

  const typeImports = entries.map((entry) => entry.type).sort();
  const dts: string[] = [
    ...(typeImports.length ? [`import type { ${typeImports.join(', ')} } from './messages.js';`, ''] : []),
    docComment(['One problem ajv found: `instancePath` is the JSON pointer to the offending value.']) +
      'export interface ValidationError {\n  instancePath: string;\n  schemaPath: string;\n  keyword: string;\n  params: Record<string, unknown>;\n  message?: string;\n}',
    '',
    docComment(['A precompiled validator: narrows `data` when it is valid; otherwise `errors` says why.']) +
      'export interface ValidateFunction<T> {\n  (data: unknown): data is T;\n  errors?: ValidationError[] | null;\n}',
    '',
    ...entries.map((entry) => `export declare const ${entry.name}: ValidateFunction<${entry.type}>;`),
    ...plan.events.map((event) => `export declare const validate${event.typeName}: ValidateFunction<${event.versions[event.versions.length - 1]!.typeName}>;`),
    '',
    docComment(['Validators of every event version, by event name and version.']) +
      `export declare const eventValidators: {\n${plan.events.map((event) => `  readonly ${propertyKey(event.name)}: { ${event.versions.map((version) => `readonly ${version.version}: ValidateFunction<${version.typeName}>;`).join(' ')} };\n`).join('')}};`,
    '',
    docComment(['Validators of every command, by command name.']) +
      `export declare const commandValidators: {\n${plan.commands.map((command) => `  readonly ${propertyKey(command.name)}: ValidateFunction<${command.typeName}>;\n`).join('')}};`,
  ];
  return { js: js.join('\n') + '\n', dts: dts.join('\n') + '\n' };
}
