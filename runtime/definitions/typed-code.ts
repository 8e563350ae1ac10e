import type { DiagnosticBag } from './diagnostics.js';
import { asList, type Defined, type Definitions, type Document, type Origin } from './model.js';
import { locate, type Path } from './source.js';

/** The kinds of typed function the definitions can name; each has its own signature. */
export type CodeKind = 'handler' | 'activity' | 'upcaster' | 'projectionHook' | 'decider' | 'queryHandler';

export const CODE_KIND_NOUN: Readonly<Record<CodeKind, string>> = {
  handler: 'a handler',
  activity: 'a saga activity',
  upcaster: 'an upcaster',
  projectionHook: 'a projection hook',
  decider: 'an aggregate decider',
  queryHandler: 'a query function',
};

/** One place where the definitions name a typed function of the handlers module. */
export interface CodeUse {
  readonly name: string;
  readonly kind: CodeKind;
  /** A readable place, e.g. `sagas.OrderFulfillment step chargePayment`. */
  readonly where: string;
  readonly origin: Origin;
  /** Where the name is written, below `origin.path`. */
  readonly path: Path;
  readonly on: readonly string[];
  readonly emits: readonly string[];
  readonly sends: readonly string[];
  readonly description?: string | undefined;
  readonly upcast?: { readonly event: string; readonly version: number };
}

/**
 * Every typed function the definitions name, where and as what: the one list the handlers-module check,
 * codegen and the loader's own checks read.
 */
export function typedCodeUses(definitions: Definitions): CodeUse[] {
  const uses: CodeUse[] = [];
  const use = (entry: Defined<unknown>, name: string, kind: CodeKind, where: string, path: Path, extra: Partial<Pick<CodeUse, 'on' | 'emits' | 'sends' | 'description' | 'upcast'>> = {}): void => {
    uses.push({ name, kind, where, origin: entry.origin, path, on: [], emits: [], sends: [], ...extra });
  };
  for (const handler of definitions.handlers.values()) {
    const spec = handler.spec;
    use(handler, handler.name, 'handler', `handlers.${handler.name}`, [], { on: asList(spec.on), emits: spec.emits ?? [], sends: spec.sends ?? [], description: spec.description });
  }
  for (const saga of definitions.sagas.values()) {
    for (const activity of sagaActivities(saga.name, saga.spec)) use(saga, activity.name, 'activity', activity.where, activity.path);
  }
  for (const event of definitions.events.values()) {
    for (const version of event.versions) {
      const handler = version.upcast?.handler;
      if (handler !== undefined) {
        use(event, handler, 'upcaster', `events.${event.name}.versions.${version.version}.upcast`, ['versions', String(version.version), 'upcast', 'handler'], { upcast: { event: event.name, version: version.version } });
      }
    }
  }
  for (const projection of definitions.projections.values()) {
    if (projection.spec.handler !== undefined) use(projection, projection.spec.handler, 'projectionHook', projection.name, ['handler'], { on: Object.keys(projection.spec.on) });
  }
  for (const aggregate of definitions.aggregates.values()) {
    const evolved = Object.keys(aggregate.spec.evolve ?? {});
    for (const [command, decision] of Object.entries(aggregate.spec.handle)) {
      if (decision?.handler !== undefined) use(aggregate, decision.handler, 'decider', aggregate.name, ['handle', command, 'handler'], { on: [command], emits: evolved });
    }
  }
  for (const query of definitions.queries.values()) {
    if (query.spec.handler !== undefined) use(query, query.spec.handler, 'queryHandler', query.name, ['handler']);
  }
  return uses;
}

type SagaAction = { invoke?: string };

/** `invoke` names in a saga: steps and their compensations, and machine actions (entry, exit, transitions). */
function sagaActivities(saga: string, spec: Document.SagaDefinition): { name: string; where: string; path: Path }[] {
  const found: { name: string; where: string; path: Path }[] = [];
  (spec.steps ?? []).forEach((step, index) => {
    if (step.invoke !== undefined) found.push({ name: step.invoke, where: `sagas.${saga} step ${step.name}`, path: ['steps', index, 'invoke'] });
    if (step.compensate?.invoke !== undefined) found.push({ name: step.compensate.invoke, where: `sagas.${saga} step ${step.name} (compensation)`, path: ['steps', index, 'compensate', 'invoke'] });
  });
  const fromActions = (actions: readonly SagaAction[] | undefined, where: string, path: Path): void => {
    (actions ?? []).forEach((action, index) => {
      if (action.invoke !== undefined) found.push({ name: action.invoke, where, path: [...path, index, 'invoke'] });
    });
  };
  const fromTransition = (transition: unknown, where: string, path: Path): void => {
    if (Array.isArray(transition)) transition.forEach((item, index) => fromTransition(item, where, [...path, index]));
    else if (transition !== null && typeof transition === 'object') fromActions((transition as { actions?: SagaAction[] }).actions, where, [...path, 'actions']);
  };
  for (const [stateName, state] of Object.entries(spec.machine?.states ?? {})) {
    if (!state) continue;
    const where = `sagas.${saga} state ${stateName}`;
    const base: Path = ['machine', 'states', stateName];
    fromActions(state.entry, where, [...base, 'entry']);
    fromActions(state.exit, where, [...base, 'exit']);
    for (const [event, transition] of Object.entries(state.on ?? {})) fromTransition(transition, where, [...base, 'on', event]);
    for (const [delay, transition] of Object.entries(state.after ?? {})) fromTransition(transition, where, [...base, 'after', delay]);
    fromTransition(state.always, where, [...base, 'always']);
  }
  return found;
}

/**
 * Names that cannot work at run time or in generated code: one function named for two kinds of use
 * (it cannot have both signatures), one upcaster for two versions, an event and a command of one name
 * (a handler's `on` could not tell them apart).
 */
export function checkTypedCode(definitions: Definitions, diagnostics: DiagnosticBag): void {
  // A handler is named by its key; every other use by the value that names the function.
  const at = (use: Pick<CodeUse, 'origin' | 'path'>) => locate(use.origin.file, [...use.origin.path, ...use.path], use.path.length ? 'value' : 'key');
  const byName = new Map<string, CodeUse[]>();
  for (const use of typedCodeUses(definitions)) byName.set(use.name, [...(byName.get(use.name) ?? []), use]);
  for (const [name, uses] of byName) {
    const kinds = [...new Set(uses.map((use) => use.kind))];
    if (kinds.length > 1) {
      const listing = uses.map((use) => `${CODE_KIND_NOUN[use.kind]} (${use.where})`).join(', ');
      for (const use of uses) diagnostics.add('EDA_CODE_NAME_CONFLICT', `"${name}" names ${listing}: one function cannot have all those signatures; give each its own name`, at(use));
    } else if (kinds[0] === 'upcaster' && uses.length > 1) {
      for (const use of uses) diagnostics.add('EDA_CODE_NAME_CONFLICT', `"${name}" upcasts ${uses.map((u) => u.where).join(' and ')}: each upcaster turns one version into the next; give each its own name`, at(use));
    }
  }
  for (const event of definitions.events.values()) {
    const command = definitions.commands.get(event.name);
    if (!command) continue;
    for (const [entry, other] of [[event, command], [command, event]] as const) {
      const otherAt = locate(other.origin.file, other.origin.path, 'key');
      diagnostics.add('EDA_DUPLICATE_NAME', `"${event.name}" is both an event and a command (also at ${otherAt.file}:${otherAt.line}): a handler's \`on\` could not tell them apart; rename one`, locate(entry.origin.file, entry.origin.path, 'key'));
    }
  }
}
