import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { EdaflowError } from '../errors/index.js';
import type { Definitions } from '../definitions/index.js';
import { isObject } from '../definitions/checks/context.js';

/** A loaded handlers module: typed functions by the names the definitions use. */
export type HandlerFunctions = Readonly<Record<string, (...args: never[]) => unknown>>;

/** Every name of typed code the definitions refer to, with where it is used. */
export function requiredFunctions(definitions: Definitions): Map<string, string> {
  const names = new Map<string, string>();
  const need = (name: unknown, usage: string): void => {
    if (typeof name === 'string' && !names.has(name)) names.set(name, usage);
  };
  for (const handler of definitions.handlers.values()) need(handler.name, `handler ${handler.name}`);
  for (const event of definitions.events.values()) for (const version of event.versions) need(version.upcast?.handler, `upcast of ${event.name} v${version.version}`);
  for (const aggregate of definitions.aggregates.values()) {
    for (const [command, decision] of Object.entries(aggregate.spec.handle)) need(decision?.handler, `aggregate ${aggregate.name}, ${command}`);
  }
  for (const projection of definitions.projections.values()) need(projection.spec.handler, `projection ${projection.name}`);
  for (const query of definitions.queries.values()) need(query.spec.handler, `query ${query.name}`);
  for (const saga of definitions.sagas.values()) {
    for (const step of saga.spec.steps ?? []) {
      need(step.invoke, `saga ${saga.name}, step ${step.name}`);
      need(step.compensate?.invoke, `saga ${saga.name}, compensation of ${step.name}`);
    }
    collectMachineInvokes(saga.spec.machine, (name) => need(name, `saga ${saga.name}`));
  }
  return names;
}

function collectMachineInvokes(node: unknown, found: (name: string) => void): void {
  if (Array.isArray(node)) node.forEach((item) => collectMachineInvokes(item, found));
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'invoke' && typeof value === 'string') found(value);
      else collectMachineInvokes(value, found);
    }
  }
}

/**
 * Imports the user's handlers module (TypeScript through tsx, so no build step is needed) and checks
 * that it provides every function the definitions name. Its default export or its named exports count.
 */
export async function loadHandlersModule(path: string | undefined, definitions: Definitions, cwd = process.cwd()): Promise<HandlerFunctions> {
  const required = requiredFunctions(definitions);
  if (!path) {
    if (required.size) throw new EdaflowError('EDA_HANDLERS_MODULE', `the definitions name typed code (${[...required.keys()].join(', ')}): pass --handlers <module>`);
    return {};
  }
  const url = pathToFileURL(resolve(cwd, path)).href;
  let module: Record<string, unknown>;
  try {
    module = /\.[mc]?tsx?$/.test(path) ? ((await (await import('tsx/esm/api')).tsImport(url, import.meta.url)) as Record<string, unknown>) : ((await import(url)) as Record<string, unknown>);
  } catch (error) {
    throw new EdaflowError('EDA_HANDLERS_MODULE', `cannot load handlers module ${path}: ${(error as Error).message}`, { cause: error });
  }
  const exported = isObject(module['default']) ? { ...module, ...module['default'] } : module;
  const missing = [...required].filter(([name]) => typeof exported[name] !== 'function');
  if (missing.length) {
    throw new EdaflowError('EDA_HANDLERS_MODULE', `handlers module ${path} does not export: ${missing.map(([name, usage]) => `${name} (${usage})`).join(', ')}`);
  }
  return exported as HandlerFunctions;
}
