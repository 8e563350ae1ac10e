import type { Definitions } from '../runtime/definitions/model.js';
import { CODE_KIND_NOUN, typedCodeUses, type CodeUse } from '../runtime/definitions/typed-code.js';
import { EdaflowError } from '../runtime/errors/index.js';
import { messageTypeName, NameTable, typeName } from './names.js';

/**
 * What the generators need from the definitions, resolved once: every message with its type names,
 * every typed function the definitions name (handlers, activities, upcasters, projection hooks,
 * deciders, query functions) with the messages its signature mentions, and every query. All lists
 * are sorted by name, so the output does not depend on file or key order.
 */
export interface CodegenPlan {
  readonly events: readonly PlannedEvent[];
  readonly commands: readonly PlannedCommand[];
  readonly code: readonly PlannedCode[];
  readonly queries: readonly PlannedQuery[];
  /** Claims the names json-schema-to-typescript declares inside message types. */
  readonly names: NameTable;
  readonly problems: string[];
}

export interface PlannedEvent {
  readonly name: string;
  /** The latest version's alias, e.g. `OrderCreated`. */
  readonly typeName: string;
  readonly description: string | undefined;
  readonly latest: number;
  readonly versions: readonly PlannedVersion[];
}

export interface PlannedVersion {
  readonly version: number;
  /** E.g. `OrderCreatedV2`. */
  readonly typeName: string;
  readonly schema: unknown;
  readonly description: string | undefined;
}

export interface PlannedCommand {
  readonly name: string;
  readonly typeName: string;
  readonly schema: unknown;
  readonly description: string | undefined;
}

export type PlannedCode =
  | { readonly kind: 'handler'; readonly name: string; readonly typeName: string; readonly description: string | undefined; readonly on: readonly string[]; readonly emits: readonly string[]; readonly sends: readonly string[] }
  | { readonly kind: 'activity'; readonly name: string; readonly typeName: string; readonly usedBy: readonly string[] }
  | { readonly kind: 'upcaster'; readonly name: string; readonly typeName: string; readonly event: string; readonly from: string; readonly to: string; readonly version: number }
  | { readonly kind: 'projectionHook'; readonly name: string; readonly typeName: string; readonly projections: readonly string[]; readonly events: readonly string[] }
  | { readonly kind: 'decider'; readonly name: string; readonly typeName: string; readonly aggregates: readonly string[]; readonly commands: readonly string[]; readonly events: readonly string[] }
  | { readonly kind: 'queryHandler'; readonly name: string; readonly typeName: string; readonly queries: readonly string[] };

export type CodeKind = PlannedCode['kind'];

export interface PlannedQuery {
  readonly name: string;
  readonly projection: string;
  readonly description: string | undefined;
  /** Names of `params.x` used in `where`; undefined when a query function decides (any params). */
  readonly params: readonly string[] | undefined;
  readonly single: boolean;
}

const SUFFIX: Record<CodeKind, string> = {
  handler: 'Handler',
  activity: 'Activity',
  upcaster: 'Upcaster',
  projectionHook: 'ProjectionHook',
  decider: 'Decider',
  queryHandler: 'QueryHandler',
};


const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const sortedUnique = (values: Iterable<string>): string[] => [...new Set(values)].sort();

/** Resolves names and collects every typed function. Throws an EdaflowError listing every naming conflict. */
export function planCode(definitions: Definitions): CodegenPlan {
  const problems: string[] = [];
  const names = new NameTable(problems);

  const events = [...definitions.events.values()].map((event): PlannedEvent => {
    const base = messageTypeName(event.name);
    names.claim(base, `event ${event.name}`);
    const versions = event.versions.map((version): PlannedVersion => {
      const versionType = `${base}V${version.version}`;
      names.claim(versionType, `version ${version.version} of event ${event.name}`);
      const spec = event.spec.versions[String(version.version)];
      return { version: version.version, typeName: versionType, schema: version.schema, description: spec?.description };
    });
    return { name: event.name, typeName: base, description: event.spec.description, latest: event.latest, versions };
  }).sort(byName);

  const commands = [...definitions.commands.values()].map((command): PlannedCommand => {
    const base = messageTypeName(command.name);
    names.claim(base, `command ${command.name}`);
    return { name: command.name, typeName: base, schema: command.schema, description: command.spec.description };
  }).sort(byName);

  const code = collectCode(definitions);
  for (const item of code) names.claim(item.typeName, `${CODE_KIND_NOUN[item.kind]} named ${item.name}`);

  const queries = [...definitions.queries.values()].map((query): PlannedQuery => ({
    name: query.name,
    projection: query.spec.projection,
    description: query.spec.description,
    params: query.spec.handler !== undefined ? undefined : sortedUnique(paramsIn(query.spec.where)),
    single: query.spec.single === true,
  })).sort(byName);

  throwIfProblems(problems);
  return { events, commands, code, queries, names, problems };
}

/** Refuses definitions that codegen cannot name (the loader does not check these): every problem, one per line. */
export function throwIfProblems(problems: readonly string[]): void {
  if (problems.length === 0) return;
  throw new EdaflowError('EDA_DEFINITIONS_INVALID', `codegen cannot name everything the definitions declare:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { details: { problems: [...problems] } });
}

/** Every name the definitions give to typed code, merged per name. */
function collectCode(definitions: Definitions): PlannedCode[] {
  const uses = new Map<string, CodeUse[]>();
  for (const use of typedCodeUses(definitions)) uses.set(use.name, [...(uses.get(use.name) ?? []), use]);
  const upcastTypes = (use: CodeUse): { event: string; from: string; to: string; version: number } => {
    const base = messageTypeName(use.upcast!.event);
    return { event: use.upcast!.event, from: `${base}V${use.upcast!.version - 1}`, to: `${base}V${use.upcast!.version}`, version: use.upcast!.version };
  };

  const planned: PlannedCode[] = [];
  for (const [name, list] of uses) {
    // One kind per name, one version per upcaster: the loader refuses anything else (typed-code.ts).
    const kind = list[0]!.kind;
    const first = list[0]!;
    const typeNameOf = `${typeName(name)}${SUFFIX[kind]}`;
    const where = sortedUnique(list.map((item) => item.where));
    switch (kind) {
      case 'handler':
        planned.push({ kind, name, typeName: typeNameOf, description: first.description, on: sortedUnique(first.on), emits: sortedUnique(first.emits), sends: sortedUnique(first.sends) });
        break;
      case 'activity':
        planned.push({ kind, name, typeName: typeNameOf, usedBy: where });
        break;
      case 'upcaster':
        planned.push({ kind, name, typeName: typeNameOf, ...upcastTypes(first) });
        break;
      case 'projectionHook':
        planned.push({ kind, name, typeName: typeNameOf, projections: where, events: sortedUnique(list.flatMap((item) => item.on)) });
        break;
      case 'decider':
        planned.push({ kind, name, typeName: typeNameOf, aggregates: where, commands: sortedUnique(list.flatMap((item) => item.on)), events: sortedUnique(list.flatMap((item) => item.emits)) });
        break;
      case 'queryHandler':
        planned.push({ kind, name, typeName: typeNameOf, queries: where });
        break;
    }
  }
  return planned.sort(byName);
}


/** `params.x` (or params.`x y`) inside the "{% %}" expressions of a `where` template. */
export function paramsIn(template: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const match of value.matchAll(/\bparams\s*\.\s*(?:([A-Za-z_$][A-Za-z0-9_$]*)|`([^`]+)`)/g)) found.push(match[1] ?? match[2]!);
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(template);
  return found;
}
