import type { DestinationRef } from '../brokers/adapter.js';
import { templateExpression } from '../core/expressions.js';
import type { Defined, Definitions, Document } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';

/** The SQL types a projection column may have (the definitions' `columns` values). */
export type ColumnType = NonNullable<Document.ProjectionDefinition['columns'][string]>;

/** A template object: column → literal or `"{% expr %}"`. */
export type ColumnTemplate = Readonly<Record<string, unknown>>;

/** What one event does to the table. */
export type Reaction =
  | { readonly kind: 'upsert'; readonly values: ColumnTemplate }
  /** `readsRow`: the `set` templates use `row` (the row before), so each matching row is evaluated on its own. */
  | { readonly kind: 'update'; readonly set: ColumnTemplate; readonly where: ColumnTemplate; readonly readsRow: boolean }
  | { readonly kind: 'delete'; readonly where: ColumnTemplate };

/** Where a projection's events come from: the event store, or a topic (or queue) through a consumer group. */
export type ProjectionSource = { readonly kind: 'events' } | { readonly kind: 'destination'; readonly destination: DestinationRef };

/** A projection definition, resolved for running: its table, the reaction per event type, its hook. */
export interface ProjectionModel {
  readonly name: string;
  readonly table: string;
  readonly key: readonly string[];
  readonly columns: ReadonlyMap<string, ColumnType>;
  readonly source: ProjectionSource;
  readonly reactions: ReadonlyMap<string, Reaction>;
  /** The name of the typed hook in the handlers module. */
  readonly hook?: string;
}

/** The projection `name` of the definitions; EDA_UNKNOWN_PROJECTION-like usage error when there is none. */
export function projectionModel(definitions: Definitions, name: string): ProjectionModel {
  const defined = definitions.projections.get(name);
  if (!defined) {
    const known = [...definitions.projections.keys()].join(', ') || 'none';
    throw new EdaflowError('EDA_USAGE', `no projection named ${name} (projections: ${known})`);
  }
  return toModel(definitions, defined);
}

export function projectionModels(definitions: Definitions): ProjectionModel[] {
  return [...definitions.projections.values()].map((defined) => toModel(definitions, defined));
}

function toModel(definitions: Definitions, defined: Defined<Document.ProjectionDefinition>): ProjectionModel {
  const spec = defined.spec;
  const columns = new Map(Object.entries(spec.columns).filter((entry): entry is [string, ColumnType] => entry[1] !== undefined));
  const reactions = new Map<string, Reaction>();
  for (const [event, reaction] of Object.entries(spec.on)) if (reaction) reactions.set(event, toReaction(reaction));
  return {
    name: defined.name,
    table: spec.table,
    key: spec.key,
    columns,
    source: sourceOf(definitions, spec.from),
    reactions,
    ...(spec.handler !== undefined ? { hook: spec.handler } : {}),
  };
}

function sourceOf(definitions: Definitions, from: string | undefined): ProjectionSource {
  if (from === undefined || from === 'events') return { kind: 'events' };
  return { kind: 'destination', destination: { kind: definitions.queues.has(from) ? 'queue' : 'topic', name: from } };
}

type ReactionSpec = NonNullable<Document.ProjectionDefinition['on'][string]>;

function toReaction(spec: ReactionSpec): Reaction {
  if (spec.upsert) return { kind: 'upsert', values: spec.upsert };
  if (spec.update) return { kind: 'update', set: spec.update, where: spec.where ?? {}, readsRow: Object.values(spec.update).some(usesRow) };
  return { kind: 'delete', where: spec.delete ?? {} };
}

/** Whether a template refers to `row` (a conservative textual test: a false positive only costs a select). */
function usesRow(template: unknown): boolean {
  const expression = templateExpression(template);
  if (expression !== undefined) return /(^|[^\w$.])row\b/.test(expression);
  if (Array.isArray(template)) return template.some(usesRow);
  if (template !== null && typeof template === 'object') return Object.values(template).some(usesRow);
  return false;
}
