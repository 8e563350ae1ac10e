import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { EdaflowError } from '../errors/index.js';
import type { Definitions } from '../definitions/index.js';
import { isObject } from '../definitions/checks/context.js';
import { typedCodeUses } from '../definitions/typed-code.js';
import type { Authenticate } from '../http/auth.js';

/** A loaded handlers module: typed functions by the names the definitions use. */
export type HandlerFunctions = Readonly<Record<string, (...args: never[]) => unknown>>;

/** Every name of typed code the definitions refer to, with where it is first used. */
export function requiredFunctions(definitions: Definitions): Map<string, string> {
  const names = new Map<string, string>();
  for (const use of typedCodeUses(definitions)) if (!names.has(use.name)) names.set(use.name, use.where);
  return names;
}

/** A loaded handlers module: the typed functions, and the HTTP request verifier when it exports one. */
export interface HandlersModule {
  readonly functions: HandlerFunctions;
  /** The named export `authenticate(request: { headers }) => { subject, roles } | undefined`, if any. */
  readonly authenticate?: Authenticate;
}

/** The name of the optional named export that verifies HTTP requests for routes with `roles`. */
const AUTHENTICATE_EXPORT = 'authenticate';

/**
 * Imports the user's handlers module (TypeScript through tsx, so no build step is needed) and checks
 * that it provides every function the definitions name. Its default export or its named exports count.
 */
export async function loadHandlersModule(path: string | undefined, definitions: Definitions, cwd = process.cwd()): Promise<HandlerFunctions> {
  return (await loadHandlers(path, definitions, cwd)).functions;
}

/** loadHandlersModule, also picking up the named `authenticate` export (it is not a handler). */
export async function loadHandlers(path: string | undefined, definitions: Definitions, cwd = process.cwd()): Promise<HandlersModule> {
  const module = await importHandlers(path, definitions, cwd);
  if (!module) return { functions: {} };
  const authenticate = module.named[AUTHENTICATE_EXPORT];
  if (authenticate !== undefined && typeof authenticate !== 'function') throw new EdaflowError('EDA_HANDLERS_MODULE', `handlers module ${path}: the \`${AUTHENTICATE_EXPORT}\` export must be a function`);
  const functions: Record<string, unknown> = { ...module.functions };
  if (!requiredFunctions(definitions).has(AUTHENTICATE_EXPORT)) delete functions[AUTHENTICATE_EXPORT];
  return { functions: functions as HandlerFunctions, ...(authenticate ? { authenticate: authenticate as Authenticate } : {}) };
}

/** The module's named exports as imported, and the functions (default export merged over the named ones). */
async function importHandlers(path: string | undefined, definitions: Definitions, cwd: string): Promise<{ named: Record<string, unknown>; functions: HandlerFunctions } | undefined> {
  const required = requiredFunctions(definitions);
  if (!path) {
    if (required.size) throw new EdaflowError('EDA_HANDLERS_MODULE', `the definitions name typed code (${[...required.keys()].join(', ')}): pass --handlers <module>`);
    return undefined;
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
  return { named: module, functions: exported as HandlerFunctions };
}
