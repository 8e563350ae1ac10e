import type { Ajv2020 } from 'ajv/dist/2020.js';
import { createMessageAjv, parseJsonPointer, type ErrorObject } from '../../core/json-schema.js';
import { applyDeclarativeUpcast } from '../../core/upcast.js';
import type { Entry } from '../merge.js';
import type { CommandModel, EventVersion, Upcast } from '../model.js';
import { locateInSchema, resolveSchemaRefs, type RefContext, type SchemaOrigin } from '../refs.js';
import type { Path } from '../source.js';
import { CheckContext, isObject } from './context.js';
import { breakingChanges } from './compatibility.js';
import { relevantErrors } from '../structure.js';
import { exampleValidator, type Validate } from './example-validator.js';
import { lintSchema, type SchemaLint } from './schema-lint.js';

export interface ResolvedSchemas {
  readonly events: Map<string, EventVersion[]>;
  readonly commands: Map<string, CommandModel>;
}


/**
 * Resolves every message schema's `$ref`s, checks that each is a valid JSON Schema, that versions run
 * 1..n, that examples match, that upcasting each example gives valid data of the next version, and that
 * no version breaks the previous one without an upcast.
 */
export async function checkMessageSchemas(ctx: CheckContext, refs: RefContext): Promise<ResolvedSchemas> {
  const ajv = messageAjv();
  const events = new Map<string, EventVersion[]>();
  const commands = new Map<string, CommandModel>();
  for (const event of ctx.sound('events')) events.set(event.name, await checkEvent(ctx, refs, ajv, event));
  for (const command of ctx.sound('commands')) {
    const { schema, origin } = resolveSchemaRefs(command.spec['schema'], command.origin.file, [...command.origin.path, 'schema'], refs);
    commands.set(command.name, { schema, schemaOrigin: origin });
    const validate = checkSchema(ctx, ajv, command, schema, origin);
    if (validate) checkExamples(ctx, command, validate, command.spec['examples'], ['examples']);
  }
  return { events, commands };
}

async function checkEvent(ctx: CheckContext, refs: RefContext, ajv: Ajv2020, event: Entry): Promise<EventVersion[]> {
  const declared = isObject(event.spec['versions']) ? event.spec['versions'] : {};
  // A key that is not a whole number from 1 is reported by the structure check; number the others.
  const numbers = Object.keys(declared).filter((key) => /^[1-9][0-9]*$/.test(key) && isObject(declared[key])).map(Number).sort((a, b) => a - b);
  numbers.forEach((number, index) => {
    if (number !== index + 1) ctx.report('EDA_VERSION_GAP', `versions must run 1..n with no gaps: found ${numbers.join(', ')} (expected ${index + 1} here)`, event, ['versions', String(number)], 'key');
  });
  const versions: EventVersion[] = [];
  const validators = new Map<number, Validate | undefined>();
  for (const number of numbers) {
    const spec = declared[String(number)] as Record<string, unknown>;
    const path: Path = ['versions', String(number)];
    const { schema, origin } = resolveSchemaRefs(spec['schema'], event.origin.file, [...event.origin.path, ...path, 'schema'], refs);
    const upcast = isObject(spec['upcast']) ? (spec['upcast'] as Upcast) : undefined;
    versions.push({ version: number, schema, schemaOrigin: origin, examples: Array.isArray(spec['examples']) ? spec['examples'] : [], ...(upcast ? { upcast } : {}) });
    const validate = checkSchema(ctx, ajv, event, schema, origin);
    validators.set(number, validate);
    if (validate) checkExamples(ctx, event, validate, spec['examples'], [...path, 'examples']);
    checkUpcastDeclaration(ctx, event, number, upcast, schema, path);
  }
  for (let i = 1; i < versions.length; i++) {
    const previous = versions[i - 1]!;
    const current = versions[i]!;
    if (!current.upcast) {
      const changes = breakingChanges(previous.schema, current.schema);
      if (changes.length) ctx.report('EDA_BREAKING_CHANGE', `version ${current.version} ${changes.join('; ')}, which rejects valid version ${previous.version} data: declare \`upcast\``, event, ['versions', String(current.version)], 'key');
    }
  }
  await checkUpcastedExamples(ctx, event, versions, validators);
  return versions;
}

function checkUpcastDeclaration(ctx: CheckContext, event: Entry, number: number, upcast: Upcast | undefined, schema: unknown, path: Path): void {
  if (!upcast) return;
  if (number === 1) {
    ctx.report('EDA_UPCAST_ON_FIRST', 'version 1 has no earlier version to upcast from: remove `upcast`', event, [...path, 'upcast'], 'key');
    return;
  }
  if (upcast.handler !== undefined && (upcast.set !== undefined || upcast.remove !== undefined)) {
    ctx.report('EDA_UPCAST_FORM', 'an upcast is either a typed `handler` or `set`/`remove`, not both', event, [...path, 'upcast'], 'key');
  }
  if (isObject(schema) && schema['additionalProperties'] === false && isObject(upcast.set)) {
    const allowed = isObject(schema['properties']) ? Object.keys(schema['properties']) : [];
    for (const key of Object.keys(upcast.set)) {
      if (!allowed.includes(key)) ctx.report('EDA_UPCAST_UNKNOWN_PROPERTY', `upcast sets "${key}", which version ${number}'s schema does not allow (additionalProperties: false; properties: ${allowed.join(', ')})`, event, [...path, 'upcast', 'set', key], 'key');
    }
  }
}

let sharedAjv: Ajv2020 | undefined;

/** One ajv per process, for its meta-schema validator (user schemas are not compiled here; see `compile`). */
function messageAjv(): Ajv2020 {
  sharedAjv ??= createMessageAjv({ addUsedSchema: false });
  return sharedAjv;
}

/** What checking one schema gave: meta-schema errors, strict-mode problems, or a validator for its examples. */
type Compiled =
  | { readonly metaErrors: readonly ErrorObject[] }
  | { readonly thrown: string; readonly at: Path }
  | { readonly lint: readonly SchemaLint[] }
  | { readonly validate: Validate };

/**
 * Checked schemas by their JSON text, so loading the same definitions again (watch mode, tests) does not
 * check every schema again. Least recently used entries go first once the cache is full.
 */
const checkedSchemas = new Map<string, Compiled>();
const MAX_CHECKED_SCHEMAS = 2_000;

function checked(ajv: Ajv2020, schema: unknown): Compiled {
  const key = String(JSON.stringify(schema));
  const cached = checkedSchemas.get(key);
  if (cached) {
    checkedSchemas.delete(key);
    checkedSchemas.set(key, cached);
    return cached;
  }
  const result = check(ajv, schema);
  checkedSchemas.set(key, result);
  if (checkedSchemas.size > MAX_CHECKED_SCHEMAS) checkedSchemas.delete(checkedSchemas.keys().next().value!);
  return result;
}

function check(ajv: Ajv2020, schema: unknown): Compiled {
  try {
    if (!ajv.validateSchema(schema as object)) return { metaErrors: [...(ajv.errors ?? [])] };
  } catch (error) {
    // A `$schema` naming a meta-schema ajv does not know (draft-07...).
    return { thrown: `${(error as Error).message} (edaflow reads JSON Schema draft 2020-12: omit \`$schema\` or use https://json-schema.org/draft/2020-12/schema)`, at: ['$schema'] };
  }
  // Not ajv.compile: compiling hundreds of schemas would be most of `validate`'s time (bench/validate.ts).
  // The meta-schema above, the strict-mode lint and an interpreting validator for the examples check the
  // same things; the runtime and codegen compile with ajv.
  const lint = lintSchema(schema);
  if (lint.length) return { lint };
  try {
    return { validate: exampleValidator(schema) };
  } catch (error) {
    return { thrown: (error as Error).message, at: [] };
  }
}

function checkSchema(ctx: CheckContext, ajv: Ajv2020, entry: Entry, schema: unknown, origin: SchemaOrigin): Validate | undefined {
  if (schema === undefined) return undefined; // no `schema`: the structure check reported the missing key
  const result = checked(ajv, schema);
  if ('metaErrors' in result) {
    for (const error of firstPerPlace(relevantErrors(result.metaErrors))) {
      const at = locateInSchema(origin, parseJsonPointer(error.instancePath));
      const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues;
      // Name the keyword or property, not the whole pointer: the location shows where it is, and a schema
      // shared through an alias then gives one message at one place, not one per use.
      const last = parseJsonPointer(error.instancePath).pop();
      const subject = last === undefined ? 'the schema' : /^\d+$/.test(last) ? `item ${last}` : `"${last}"`;
      ctx.diagnostics.add('EDA_INVALID_SCHEMA', `invalid JSON Schema: ${subject} ${error.message ?? ''}${allowed ? `: ${allowed.map((v) => JSON.stringify(v)).join(', ')}` : ''}`, at);
    }
    return undefined;
  }
  if ('lint' in result) {
    for (const problem of result.lint) ctx.diagnostics.add('EDA_INVALID_SCHEMA', `invalid JSON Schema: ${problem.message}`, locateInSchema(origin, problem.path, problem.target));
    return undefined;
  }
  if ('thrown' in result) {
    ctx.diagnostics.add('EDA_INVALID_SCHEMA', `invalid JSON Schema: ${result.thrown}`, locateInSchema(origin, result.at));
    return undefined;
  }
  return result.validate;
}

function checkExamples(ctx: CheckContext, entry: Entry, validate: Validate, examples: unknown, path: Path): void {
  if (!Array.isArray(examples)) return;
  examples.forEach((example, index) => {
    if (!validate(example)) ctx.report('EDA_EXAMPLE_INVALID', `example ${index + 1} does not match the schema: ${describeErrors(validate.errors)}`, entry, [...path, index]);
  });
}

/** Each example of version v, upcast step by step to the latest version, must stay valid at every step. */
async function checkUpcastedExamples(ctx: CheckContext, event: Entry, versions: EventVersion[], validators: Map<number, Validate | undefined>): Promise<void> {
  for (const source of versions) {
    for (const [index, example] of source.examples.entries()) {
      let data = example;
      for (const target of versions.filter((v) => v.version > source.version)) {
        if (target.upcast?.handler !== undefined) break; // typed code runs only in the runtime
        try {
          data = target.upcast ? await applyDeclarativeUpcast(data, target.upcast) : data;
        } catch (error) {
          ctx.report('EDA_UPCAST_FAILED', `upcasting example ${index + 1} of version ${source.version} to version ${target.version} failed: ${(error as Error).message}`, event, ['versions', String(target.version), 'upcast']);
          break;
        }
        const validate = validators.get(target.version);
        if (validate && !validate(data)) {
          ctx.report('EDA_EXAMPLE_UPCAST_INVALID', `example ${index + 1} of version ${source.version}, upcast to version ${target.version}, does not match that schema: ${describeErrors(validate.errors)}`, event, ['versions', String(source.version), 'examples', index]);
          break;
        }
      }
    }
  }
}

export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? []).slice(0, 3).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}${error.keyword === 'additionalProperties' ? ` ("${String((error.params as Record<string, unknown>)['additionalProperty'])}")` : ''}`).join('; ');
}

/** The meta-schema reports one mistake several ways (its anyOf branches live behind $refs): keep the first per place. */
function firstPerPlace(errors: readonly ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((error) => !seen.has(error.instancePath) && seen.add(error.instancePath) !== undefined);
}
