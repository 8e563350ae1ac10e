import { compile, type JSONSchema } from 'json-schema-to-typescript';
import { throwIfProblems, type CodegenPlan } from './plan.js';
import { docComment, indentDeclarations, propertyKey } from './text.js';

/**
 * `messages.ts`: a type per event version (`OrderCreatedV1`, `OrderCreatedV2`), an alias for each
 * event's latest version (`OrderCreated`), a type per command, and the maps the other files index:
 * `EventDataMap` (latest data by event name), `EventVersionMap` (data by name and version) and
 * `CommandDataMap`.
 */
export async function generateMessages(plan: CodegenPlan): Promise<string> {
  const blocks: string[] = [];
  for (const event of plan.events) {
    for (const version of event.versions) {
      blocks.push(await declareSchema(plan, version.schema, version.typeName, `version ${version.version} of event ${event.name}`, version.description));
    }
    const latest = event.versions[event.versions.length - 1]!;
    blocks.push(docComment([`${event.name}, latest version (${latest.version}).`, event.description]) + `export type ${event.typeName} = ${latest.typeName};`);
  }
  for (const command of plan.commands) {
    blocks.push(await declareSchema(plan, command.schema, command.typeName, `command ${command.name}`, command.description));
  }
  throwIfProblems(plan.problems);

  const maps = [
    docComment(['The data of each event, at its latest version (what handlers receive and publishing takes).']) +
      `export interface EventDataMap {\n${plan.events.map((e) => `  ${propertyKey(e.name)}: ${e.typeName};\n`).join('')}}`,
    docComment(['The data of each event by version (what upcasters take and return).']) +
      `export interface EventVersionMap {\n${plan.events.map((e) => `  ${propertyKey(e.name)}: { ${e.versions.map((v) => `${v.version}: ${v.typeName};`).join(' ')} };\n`).join('')}}`,
    docComment(['The data of each command.']) + `export interface CommandDataMap {\n${plan.commands.map((c) => `  ${propertyKey(c.name)}: ${c.typeName};\n`).join('')}}`,
    'export type EventName = keyof EventDataMap;',
    'export type CommandName = keyof CommandDataMap;',
    'export type MessageName = EventName | CommandName;',
  ];
  return [...blocks, ...maps].join('\n\n') + '\n';
}

/** One schema's declarations: the named type, and the named types json-schema-to-typescript declares inside it. */
async function declareSchema(plan: CodegenPlan, schema: unknown, name: string, owner: string, description: string | undefined): Promise<string> {
  let code: string;
  if (schema === true || schema === false) {
    code = docComment([description]) + `export type ${name} = ${schema ? 'unknown' : 'never'};`;
  } else {
    const prepared = prepareSchema(schema as Record<string, unknown>, name, description);
    code = indentDeclarations(
      (
        await compile(prepared as JSONSchema, name, {
          bannerComment: '',
          format: false,
          additionalProperties: true,
          declareExternallyReferenced: true,
          // `minItems: 1` as `[T, ...T[]]` makes `items.map(...)` unassignable; ajv still checks the bounds.
          ignoreMinAndMaxItems: true,
          strictIndexSignatures: false,
          unknownAny: true,
          unreachableDefinitions: false,
          // The loader has inlined every file `$ref`; what is left points inside the schema. Never fetch.
          $refOptions: { resolve: { external: false } },
        })
      ).trim(),
    );
  }
  const declared = [...code.matchAll(/^export (?:declare )?(?:interface|type|enum|const enum) ([A-Za-z_$][\w$]*)/gm)].map((match) => match[1]!);
  if (!declared.includes(name)) throw new Error(`codegen: json-schema-to-typescript did not declare ${name} for ${owner} (declared: ${declared.join(', ')})`);
  for (const declaredName of declared) plan.names.claim(declaredName, declaredName === name ? owner : `a type inside ${owner}`);
  return code;
}

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_VALUES = ['items', 'additionalItems', 'additionalProperties', 'contains', 'not', 'if', 'then', 'else', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties'];

/**
 * A copy of a message schema, ready for json-schema-to-typescript: the root titled with the type
 * name; every nested schema it would declare as a named type (one with a `title` or an `$id`, or a
 * `$defs` entry) titled `<type name><its name>`, so `OrderCreatedV2`'s `$defs.address` becomes
 * `OrderCreatedV2Address` and never collides with another message's `Address`.
 */
export function prepareSchema(schema: Record<string, unknown>, name: string, description: string | undefined): Record<string, unknown> {
  const visit = (node: unknown, definitionKey: string | undefined, root: boolean): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    const copy: Record<string, unknown> = { ...(node as Record<string, unknown>) };
    for (const key of SCHEMA_MAPS) {
      const map = copy[key];
      if (map !== null && typeof map === 'object' && !Array.isArray(map)) {
        const isDefinitions = key === '$defs' || key === 'definitions';
        copy[key] = Object.fromEntries(Object.entries(map).map(([child, value]) => [child, visit(value, isDefinitions ? child : undefined, false)]));
      }
    }
    for (const key of SCHEMA_LISTS) if (Array.isArray(copy[key])) copy[key] = (copy[key] as unknown[]).map((item) => visit(item, undefined, false));
    for (const key of SCHEMA_VALUES) {
      if (Array.isArray(copy[key])) copy[key] = (copy[key] as unknown[]).map((item) => visit(item, undefined, false));
      else if (copy[key] !== undefined) copy[key] = visit(copy[key], undefined, false);
    }
    if (root) {
      copy['title'] = name;
      if (copy['description'] === undefined && description !== undefined) copy['description'] = description;
    } else {
      const own = typeof copy['title'] === 'string' ? copy['title'] : typeof copy['$id'] === 'string' ? idName(copy['$id']) : definitionKey;
      if (own !== undefined) copy['title'] = `${name} ${own}`;
    }
    return copy;
  };
  return visit(schema, undefined, true) as Record<string, unknown>;
}

/** `https://example.com/schemas/postal-address.json` → `postal-address`. */
function idName(id: string): string {
  const last = id.replace(/[#?].*$/, '').split('/').filter(Boolean).pop() ?? id;
  return last.replace(/\.(json|ya?ml)$/i, '');
}
