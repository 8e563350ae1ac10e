import { Validator, type OutputUnit } from '@cfworker/json-schema';
import type { ErrorObject } from '../../core/json-schema.js';

export type Validate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Keywords whose errors only say that something below them failed. */
const WRAPPERS = new Set(['properties', 'items', 'prefixItems', 'allOf', 'contains', 'patternProperties', 'dependentSchemas', 'unevaluatedProperties', 'unevaluatedItems', '$ref', 'if', 'then', 'else']);

/**
 * A validator for a definitions set's examples that needs no compilation: `validate` checks hundreds
 * of schemas once each, where compiling every one (as the runtime does, with ajv) would cost most of
 * the command's time. Reports errors in ajv's shape so that messages read the same.
 */
export function exampleValidator(schema: unknown): Validate {
  const validator = new Validator(schema as object, '2020-12', false);
  const validate: Validate = (data) => {
    const result = validator.validate(data);
    validate.errors = result.valid ? null : leaves(result.errors);
    return result.valid;
  };
  return validate;
}

function leaves(units: readonly OutputUnit[]): ErrorObject[] {
  const pointer = (location: string): string => location.replace(/^#/, '');
  const deeper = (unit: OutputUnit): boolean => units.some((other) => other !== unit && other.keywordLocation.startsWith(unit.keywordLocation + '/'));
  return units
    .filter((unit) => unit.keyword !== 'false' && !(WRAPPERS.has(unit.keyword) && deeper(unit)))
    .map((unit) => {
      const property = unit.keyword === 'additionalProperties' ? /Property "([^"]*)"/.exec(unit.error)?.[1] : undefined;
      return {
        instancePath: pointer(unit.instanceLocation),
        schemaPath: unit.keywordLocation,
        keyword: unit.keyword,
        params: property === undefined ? {} : { additionalProperty: property },
        message: unit.keyword === 'additionalProperties' ? 'must NOT have additional properties' : unit.error.replace(/\.$/, ''),
      };
    });
}
