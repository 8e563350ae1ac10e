import { PATTERNS, type PatternName } from './patterns.js';
/**
 * Small builders for the language's JSON Schema. Each DSL section declares its schema with these in its
 * own file; `schemas/edaflow.schema.json` (editor completion) and the TypeScript types of a parsed file
 * (`document.generated.ts`) are both generated from them, so the three cannot drift.
 */
export type JsonSchema = { readonly [key: string]: unknown };

export const ref = (name: string): JsonSchema => ({ $ref: `#/$defs/${name}` });

export function describe(schema: JsonSchema, description: string, examples?: readonly unknown[]): JsonSchema {
  return { ...schema, description, ...(examples ? { examples } : {}) };
}

/** A closed object: unknown keys are errors, so typos are caught. */
export function object(
  description: string,
  properties: Record<string, JsonSchema>,
  options: { required?: readonly string[]; examples?: readonly unknown[]; title?: string } = {},
): JsonSchema {
  return {
    type: 'object',
    ...(options.title ? { title: options.title } : {}),
    description,
    properties,
    ...(options.required?.length ? { required: options.required } : {}),
    additionalProperties: false,
    ...(options.examples ? { examples: options.examples } : {}),
  };
}

/** A mapping from user-chosen names to definitions of one kind. */
export function namedMap(description: string, nameFormat: PatternName, value: JsonSchema, title?: string): JsonSchema {
  return {
    type: 'object',
    ...(title ? { title } : {}),
    description,
    propertyNames: { pattern: PATTERNS[nameFormat] },
    additionalProperties: value,
  };
}

export const string = (description: string, examples?: readonly unknown[]): JsonSchema => describe({ type: 'string' }, description, examples);
export const boolean = (description: string): JsonSchema => ({ type: 'boolean', description });
export const integer = (description: string, minimum = 0, examples?: readonly unknown[]): JsonSchema =>
  describe({ type: 'integer', minimum }, description, examples);
export const stringEnum = (description: string, values: readonly string[]): JsonSchema => ({ type: 'string', enum: values, description });
export const listOf = (description: string, item: JsonSchema, minItems = 0): JsonSchema => ({
  type: 'array',
  description,
  items: item,
  ...(minItems ? { minItems } : {}),
});
/** One name, or a list of names: `on: OrderCreated` and `on: [OrderCreated]` are the same. */
export const oneOrMany = (description: string, item: JsonSchema): JsonSchema => ({
  description,
  anyOf: [item, { type: 'array', items: item, minItems: 1 }],
});
