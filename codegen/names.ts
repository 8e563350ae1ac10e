/**
 * TypeScript names for what the definitions declare, and the one table that makes sure no two
 * generated declarations share a name.
 */

/**
 * The type name for a message or code name: the rules json-schema-to-typescript applies to a title
 * (upper-case first letter, `snake_case` to `SnakeCase`, a letter after digits upper-cased), so the
 * names we reference agree with the names it declares.
 */
export function typeName(name: string): string {
  const safe = name
    .replace(/(^\s*[^a-zA-Z_$])|([^a-zA-Z_$\d])/g, ' ')
    .replace(/^_[a-z]/g, (match) => match.toUpperCase())
    .replace(/_[a-z]/g, (match) => match.slice(1).toUpperCase())
    .replace(/([\d$]+[a-zA-Z])/g, (match) => match.toUpperCase())
    .replace(/\s+([a-zA-Z])/g, (match) => match.trim().toUpperCase())
    .replace(/\s/g, '')
    .replace(/^\d+/, '');
  return safe.charAt(0).toUpperCase() + safe.slice(1);
}

/**
 * Global types the generated files use, and names TypeScript users expect to mean the global: a
 * message named like one gets a `Data` suffix (`Error` → `ErrorData`) instead of shadowing it.
 */
const GLOBAL_TYPES = new Set([
  'AbortSignal', 'Array', 'Awaited', 'BigInt', 'Boolean', 'Date', 'Error', 'Exclude', 'Extract', 'Function', 'Iterable', 'JSON',
  'Map', 'Math', 'NonNullable', 'Number', 'Object', 'Omit', 'Parameters', 'Partial', 'Pick', 'Promise', 'PromiseLike', 'Readonly',
  'ReadonlyArray', 'Record', 'RegExp', 'Required', 'ReturnType', 'Set', 'String', 'Symbol',
]);

/** Names the generated files declare for themselves. */
export const HELPER_NAMES = [
  'ActivityContext', 'ActivityInput', 'CommandDataMap', 'CommandMessage', 'CommandName', 'DecidedEvent', 'EdaflowClient',
  'EdaflowTransport', 'EmitOptions', 'EventDataMap', 'EventMessage', 'EventName', 'EventVersionMap', 'HandlerContext', 'Handlers',
  'Message', 'MessageName', 'ProjectionContext', 'PublishOptions', 'QueryParams', 'SendOptions', 'ValidateFunction',
  'ValidationError',
] as const;

/** The type name of a message's data, kept clear of global type names. */
export function messageTypeName(name: string): string {
  const base = typeName(name);
  return GLOBAL_TYPES.has(base) || (HELPER_NAMES as readonly string[]).includes(base) ? `${base}Data` : base;
}

/** Claims of generated names; a second claim of a name is a problem to report, naming both claimants. */
export class NameTable {
  private readonly owners = new Map<string, string>();

  constructor(private readonly problems: string[]) {
    for (const name of HELPER_NAMES) this.owners.set(name, 'a type edaflow generates');
  }

  claim(name: string, owner: string): void {
    const existing = this.owners.get(name);
    if (existing !== undefined && existing !== owner) {
      this.problems.push(`the generated name ${name} would stand for both ${existing} and ${owner}: rename one of them`);
      return;
    }
    this.owners.set(name, owner);
  }
}
