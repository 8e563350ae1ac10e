import { resolve } from 'node:path';
import { DiagnosticBag, type Diagnostic } from './diagnostics.js';
import { substituteEnvironment, type EnvMode } from './env.js';
import { checkExpressions } from './expressions.js';
import { diskFileSystem, displayPath, type DefinitionsFileSystem } from './files.js';
import { emptyMerged, mergeFile, type Merged } from './merge.js';
import { buildDefinitions } from './normalize.js';
import type { Definitions } from './model.js';
import type { RefContext } from './refs.js';
import { fileData, parseSource, type SourceFile } from './source.js';
import { checkStructure } from './structure.js';
import { CheckContext } from './checks/context.js';
import { checkInfrastructure } from './checks/infrastructure.js';
import { checkReadModels } from './checks/read-models.js';
import { checkReferences } from './checks/references.js';
import { checkSagas } from './checks/sagas.js';
import { checkMessageSchemas } from './checks/schemas.js';
import { checkStreams } from './checks/streams.js';

export interface LoadOptions {
  /** `run` treats an unset environment variable as an error, `validate` as a warning. */
  readonly mode?: EnvMode;
  readonly env?: NodeJS.ProcessEnv;
  readonly fileSystem?: DefinitionsFileSystem;
  readonly cwd?: string;
}

export interface LoadResult {
  /** The merged model; present only when there are no errors. */
  readonly definitions: Definitions | undefined;
  readonly diagnostics: readonly Diagnostic[];
  readonly errorCount: number;
  readonly files: readonly SourceFile[];
  /** Set when the input could not be read at all (exit code 2). */
  readonly unusable?: string;
}

/** Loads a definitions directory: parse, check structure, merge, check meaning, build the model. */
export async function loadDefinitions(directory: string, options: LoadOptions = {}): Promise<LoadResult> {
  const fileSystem = options.fileSystem ?? diskFileSystem;
  const root = resolve(options.cwd ?? process.cwd(), directory);
  const show = (path: string): string => displayPath(path, options.cwd);
  const diagnostics = new DiagnosticBag();
  let paths: string[];
  try {
    paths = fileSystem.list(root);
  } catch (error) {
    return unusable(`cannot read definitions directory ${show(root)}: ${(error as Error).message}`);
  }
  if (paths.length === 0) return unusable(`no definitions in ${show(root)}: expected *.yaml or *.yml files`);

  const files: SourceFile[] = [];
  const merged = emptyMerged();
  // False when some file could not be read whole (a YAML syntax error, an unknown section...).
  let complete = true;
  for (const path of paths) {
    let text: string;
    try {
      text = fileSystem.read(path);
    } catch (error) {
      return unusable(`cannot read ${show(path)}: ${(error as Error).message}`);
    }
    const file = parseSource(path, show(path), text, diagnostics);
    files.push(file);
    if (file.document.errors.length) {
      complete = false;
      continue;
    }
    substituteEnvironment(file, options.env ?? process.env, options.mode ?? 'validate', diagnostics);
    const expanded = fileData(file, diagnostics);
    if (!expanded) {
      complete = false;
      continue;
    }
    const { data } = expanded;
    const problems = checkStructure(file, data, diagnostics);
    checkExpressions(file, data, diagnostics);
    if (!mergeFile(merged, file, data, problems, diagnostics)) complete = false;
  }

  const refs: RefContext = { root, diagnostics, read: (path) => fileSystem.read(path), display: show, cache: new Map() };
  const context = new CheckContext(merged, diagnostics, complete);
  checkReferences(context);
  checkInfrastructure(context);
  checkSagas(context);
  checkStreams(context);
  checkReadModels(context);
  const schemas = await checkMessageSchemas(context, refs);

  // validate: a value whose variable is unset (a warning) yields follow-on errors at the same place; those are noise.
  const errorCount = withoutEchoesOfUnsetVariables(diagnostics.items).filter((d) => d.severity === 'error').length;
  const definitions = errorCount === 0 ? buildDefinitions(root, files, merged as Merged, schemas) : undefined;
  return { definitions, diagnostics: withoutEchoesOfUnsetVariables(diagnostics.sorted()), errorCount, files };

  function unusable(message: string): LoadResult {
    return { definitions: undefined, diagnostics: [], errorCount: 0, files: [], unusable: message };
  }
}

function withoutEchoesOfUnsetVariables(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const unset = new Set(diagnostics.filter((d) => d.code === 'EDA_ENV_UNSET' && d.severity === 'warning').map((d) => `${d.file}:${d.line}:${d.column}`));
  return diagnostics.filter((d) => d.code === 'EDA_ENV_UNSET' || !unset.has(`${d.file}:${d.line}:${d.column}`));
}
