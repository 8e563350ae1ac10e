/**
 * Finds the changes from one version's JSON Schema to the next that would reject data valid under the
 * previous one: a new required property, a removed property (when the new schema is closed), a changed
 * type, a narrowed enum. Nested object properties are compared too. A heuristic over the common
 * keywords, not a full schema-inclusion proof.
 */
export function breakingChanges(previous: unknown, next: unknown, path = ''): string[] {
  if (!isSchemaObject(previous) || !isSchemaObject(next)) return [];
  const changes: string[] = [];
  const name = (property: string): string => (path ? `${path}.${property}` : property);
  const previousRequired = new Set(stringList(previous['required']));
  for (const property of stringList(next['required'])) {
    if (!previousRequired.has(property)) changes.push(`requires new property "${name(property)}"`);
  }
  const previousProperties = properties(previous);
  const nextProperties = properties(next);
  for (const [property, previousSchema] of Object.entries(previousProperties)) {
    const nextSchema = nextProperties[property];
    if (nextSchema === undefined) {
      if (next['additionalProperties'] === false) changes.push(`removes property "${name(property)}"`);
      continue;
    }
    const previousTypes = typesOf(previousSchema);
    const nextTypes = typesOf(nextSchema);
    if (previousTypes && nextTypes && previousTypes.some((type) => !nextTypes.includes(type) && !(type === 'integer' && nextTypes.includes('number')))) {
      changes.push(`changes the type of "${name(property)}" from ${previousTypes.join('|')} to ${nextTypes.join('|')}`);
      continue;
    }
    const dropped = narrowedEnum(previousSchema, nextSchema);
    if (dropped.length) changes.push(`narrows the values of "${name(property)}" (drops ${dropped.map((v) => JSON.stringify(v)).join(', ')})`);
    changes.push(...breakingChanges(previousSchema, nextSchema, name(property)));
  }
  return changes;
}

function isSchemaObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function properties(schema: Record<string, unknown>): Record<string, unknown> {
  return isSchemaObject(schema['properties']) ? schema['properties'] : {};
}

function typesOf(schema: unknown): string[] | undefined {
  if (!isSchemaObject(schema)) return undefined;
  const type = schema['type'];
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? stringList(type) : undefined;
}

function narrowedEnum(previous: unknown, next: unknown): unknown[] {
  if (!isSchemaObject(previous) || !isSchemaObject(next) || !Array.isArray(next['enum'])) return [];
  const allowed = next['enum'].map((value) => JSON.stringify(value));
  if (!Array.isArray(previous['enum'])) return previous['const'] !== undefined && !allowed.includes(JSON.stringify(previous['const'])) ? [previous['const']] : typesOf(previous) ? ['(any value)'] : [];
  return previous['enum'].filter((value) => !allowed.includes(JSON.stringify(value)));
}
