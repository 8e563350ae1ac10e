import { resolve } from 'node:path';
import { DiagnosticBag, type Diagnostic } from './diagnostics.js';
import { substituteEnvironment, substituteInData, type EnvMode } from './env.js';
import { fastParse } from './fast-yaml.js';
import { checkExpressions } from './expressions.js';
import { diskFileSystem, displayPath, type DefinitionsFileSystem } from './files.js';
import { emptyMerged, mergeFile, type Merged } from './merge.js';
import { buildDefinitions } from './normalize.js';
import type { Definitions } from './model.js';
import { checkTypedCode } from './typed-code.js';
import type { RefContext } from './refs.js';
import { fileData, lazySource, locate, parseSource, type SourceFile } from './source.js';
import { checkStructure } from './structure.js';
import { CheckContext } from './checks/context.js';
import { checkInfrastructure } from './checks/infrastructure.js';
import { checkSecurity } from '../security/checks.js';
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
    const read = readFile(path, show(path), text, options.env ?? process.env, options.mode ?? 'validate', diagnostics);
    files.push(read.file);
    if (read.data === undefined) {
      complete = false;
      continue;
    }
    const { file, data } = read;
    const problems = checkStructure(file, data, diagnostics);
    checkExpressions(file, data, diagnostics);
    if (!mergeFile(merged, file, data, problems, diagnostics)) complete = false;
  }

  const refs: RefContext = { root, diagnostics, read: (path) => fileSystem.read(path), display: show, cache: new Map() };
  const context = new CheckContext(merged, diagnostics, complete);
  checkReferences(context);
  checkInfrastructure(context);
  checkSecurity(context);
  checkSagas(context);
  checkStreams(context);
  checkReadModels(context);
  const schemas = await checkMessageSchemas(context, refs);

  // validate: a value whose variable is unset (a warning) yields follow-on errors at the same place; those are noise.
  let errorCount = withoutEchoesOfUnsetVariables(diagnostics.items).filter((d) => d.severity === 'error').length;
  let definitions = errorCount === 0 ? buildDefinitions(root, files, merged as Merged, schemas) : undefined;
  if (definitions) {
    // Checks that read the whole model (the names of typed code across sections).
    checkTypedCode(definitions, diagnostics);
    errorCount = diagnostics.errorCount;
    if (errorCount) definitions = undefined;
  }
  return { definitions, diagnostics: withoutEchoesOfUnsetVariables(diagnostics.sorted()), errorCount, files };

  function unusable(message: string): LoadResult {
    return { definitions: undefined, diagnostics: [], errorCount: 0, files: [], unusable: message };
  }
}

/**
 * Parses one file and expands its `${VAR}`s. The fast parser reads well-formed files; anything it
 * refuses (a syntax error, a duplicate key...) is read by the full parser, which reports it where it is.
 * `data` is undefined when the file cannot be read whole.
 */
function readFile(path: string, shown: string, text: string, env: NodeJS.ProcessEnv, mode: EnvMode, diagnostics: DiagnosticBag): { file: SourceFile; data: unknown } {
  const fast = fastParse(text);
  if (fast) {
    const file = lazySource(path, shown, text);
    const data = substituteInData(fast.data, env, (problem, message, at, target) => {
      const where = locate(file, at, target);
      if (problem === 'syntax') diagnostics.add('EDA_ENV_SYNTAX', message, where);
      else if (mode === 'run') diagnostics.add('EDA_ENV_UNSET', message, where);
      else diagnostics.warn('EDA_ENV_UNSET', message, where);
    });
    return { file, data };
  }
  const file = parseSource(path, shown, text, diagnostics);
  if (file.document.errors.length) return { file, data: undefined };
  substituteEnvironment(file, env, mode, diagnostics);
  return { file, data: fileData(file, diagnostics)?.data };
}

function withoutEchoesOfUnsetVariables(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const unset = new Set(diagnostics.filter((d) => d.code === 'EDA_ENV_UNSET' && d.severity === 'warning').map((d) => `${d.file}:${d.line}:${d.column}`));
  return diagnostics.filter((d) => d.code === 'EDA_ENV_UNSET' || !unset.has(`${d.file}:${d.line}:${d.column}`));
}
