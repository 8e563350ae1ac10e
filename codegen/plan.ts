import type { Definitions, Document } from '../runtime/definitions/model.js';
import { asList } from '../runtime/definitions/model.js';
import { EdaflowError } from '../runtime/errors/index.js';
import { messageTypeName, NameTable, typeName } from './names.js';
import { listing } from './text.js';

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

const KIND_NOUN: Record<CodeKind, string> = {
  handler: 'a handler',
  activity: 'a saga activity',
  upcaster: 'an upcaster',
  projectionHook: 'a projection hook',
  decider: 'an aggregate decider',
  queryHandler: 'a query function',
};

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const sortedUnique = (values: Iterable<string>): string[] => [...new Set(values)].sort();

/** Resolves names and collects every typed function. Throws an EdaflowError listing every naming conflict. */
export function planCode(definitions: Definitions): CodegenPlan {
  const problems: string[] = [];
  const names = new NameTable(problems);

  for (const name of definitions.events.keys()) {
    if (definitions.commands.has(name)) problems.push(`"${name}" is both an event and a command: a handler's \`on\` could not tell them apart; rename one`);
  }

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

  const code = collectCode(definitions, problems);
  for (const item of code) names.claim(item.typeName, `${KIND_NOUN[item.kind]} named ${item.name}`);

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

interface CodeUse {
  kind: CodeKind;
  where: string;
  on: string[];
  emits: string[];
  sends: string[];
  description?: string | undefined;
  upcast?: { event: string; from: string; to: string; version: number };
}

/** Every name the definitions give to typed code, merged per name; a name used for two kinds of function is a problem. */
function collectCode(definitions: Definitions, problems: string[]): PlannedCode[] {
  const uses = new Map<string, CodeUse[]>();
  const use = (name: string, item: CodeUse): void => {
    const list = uses.get(name) ?? [];
    list.push(item);
    uses.set(name, list);
  };
  const eventTypes = new Map([...definitions.events.values()].map((event) => [event.name, messageTypeName(event.name)]));

  for (const handler of definitions.handlers.values()) {
    const spec = handler.spec;
    use(handler.name, { kind: 'handler', where: `handlers.${handler.name}`, on: asList(spec.on), emits: spec.emits ?? [], sends: spec.sends ?? [], description: spec.description });
  }
  for (const saga of definitions.sagas.values()) {
    for (const { name, where } of sagaActivities(saga.name, saga.spec)) use(name, { kind: 'activity', where, on: [], emits: [], sends: [] });
  }
  for (const event of definitions.events.values()) {
    for (const version of event.versions) {
      const handler = version.upcast?.handler;
      if (handler === undefined) continue;
      const base = eventTypes.get(event.name)!;
      use(handler, {
        kind: 'upcaster', where: `events.${event.name}.versions.${version.version}.upcast`, on: [], emits: [], sends: [],
        upcast: { event: event.name, from: `${base}V${version.version - 1}`, to: `${base}V${version.version}`, version: version.version },
      });
    }
  }
  for (const projection of definitions.projections.values()) {
    if (projection.spec.handler !== undefined) use(projection.spec.handler, { kind: 'projectionHook', where: projection.name, on: Object.keys(projection.spec.on), emits: [], sends: [] });
  }
  for (const aggregate of definitions.aggregates.values()) {
    const evolved = Object.keys(aggregate.spec.evolve ?? {});
    for (const [command, decision] of Object.entries(aggregate.spec.handle)) {
      if (decision?.handler !== undefined) use(decision.handler, { kind: 'decider', where: aggregate.name, on: [command], emits: evolved, sends: [] });
    }
  }
  for (const query of definitions.queries.values()) {
    if (query.spec.handler !== undefined) use(query.spec.handler, { kind: 'queryHandler', where: query.name, on: [], emits: [], sends: [] });
  }

  const planned: PlannedCode[] = [];
  for (const [name, list] of uses) {
    const kinds = sortedUnique(list.map((item) => item.kind)) as CodeKind[];
    if (kinds.length > 1) {
      problems.push(`"${name}" names ${listingOf(list)}: one function cannot have all those signatures; give each its own name`);
      continue;
    }
    const kind = kinds[0]!;
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
        if (list.length > 1) {
          problems.push(`"${name}" upcasts ${listing(where)}: each upcaster turns one version into the next; give each its own name`);
          continue;
        }
        planned.push({ kind, name, typeName: typeNameOf, ...first.upcast! });
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

function listingOf(list: readonly CodeUse[]): string {
  return listing(sortedUnique(list.map((item) => `${KIND_NOUN[item.kind]} (${item.where})`)));
}

type SagaAction = { invoke?: string };

/** `invoke` names in a saga: steps and their compensations, and machine actions (entry, exit, transitions). */
function sagaActivities(saga: string, spec: Document.SagaDefinition): { name: string; where: string }[] {
  const found: { name: string; where: string }[] = [];
  for (const step of spec.steps ?? []) {
    if (step.invoke !== undefined) found.push({ name: step.invoke, where: `sagas.${saga} step ${step.name}` });
    if (step.compensate?.invoke !== undefined) found.push({ name: step.compensate.invoke, where: `sagas.${saga} step ${step.name} (compensation)` });
  }
  const fromActions = (actions: readonly SagaAction[] | undefined, where: string): void => {
    for (const action of actions ?? []) if (action.invoke !== undefined) found.push({ name: action.invoke, where });
  };
  const fromTransition = (transition: unknown, where: string): void => {
    for (const item of Array.isArray(transition) ? transition : [transition]) {
      if (item !== null && typeof item === 'object') fromActions((item as { actions?: SagaAction[] }).actions, where);
    }
  };
  for (const [stateName, state] of Object.entries(spec.machine?.states ?? {})) {
    if (!state) continue;
    const where = `sagas.${saga} state ${stateName}`;
    fromActions(state.entry, where);
    fromActions(state.exit, where);
    for (const transition of Object.values(state.on ?? {})) fromTransition(transition, where);
    for (const transition of Object.values(state.after ?? {})) fromTransition(transition, where);
    fromTransition(state.always, where);
  }
  return found;
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
