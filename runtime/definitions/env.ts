import { visit, type Scalar } from 'yaml';
import type { DiagnosticBag } from './diagnostics.js';
import { nodeLocation, type Path, type SourceFile } from './source.js';

export type EnvMode = 'run' | 'validate';

const REFERENCE = /\$\$|\$\{([^}]*)\}/g;
const NAME = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Replaces `${NAME}` and `${NAME:-default}` inside every string scalar, in place. `$$` stands for a
 * literal `$`. An unset variable with no default is an error for `run` (it cannot start) and a warning
 * for `validate` (CI checks definitions without production secrets).
 */
export function substituteEnvironment(file: SourceFile, env: NodeJS.ProcessEnv, mode: EnvMode, diagnostics: DiagnosticBag): void {
  visit(file.document, {
    Scalar(_key, node: Scalar) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      node.value = expand(node.value, (problem, message) => {
        const at = nodeLocation(file, node);
        if (problem === 'syntax') diagnostics.add('EDA_ENV_SYNTAX', message, at);
        else if (mode === 'run') diagnostics.add('EDA_ENV_UNSET', message, at);
        else diagnostics.warn('EDA_ENV_UNSET', message, at);
      }, env);
    },
  });
}

/**
 * The same substitution over parsed data (the fast path of load.ts), in place; each problem is reported
 * with the path of the value (or key) it was found in.
 */
export function substituteInData(data: unknown, env: NodeJS.ProcessEnv, report: (problem: 'syntax' | 'unset', message: string, path: Path, target: 'key' | 'value') => void): unknown {
  // In place: the data was just parsed and belongs to the caller; copying 600 KB of it would cost more.
  const walk = (value: unknown, path: Path): unknown => {
    if (typeof value === 'string') return value.includes('$') ? expand(value, (problem, message) => report(problem, message, path, 'value'), env) : value;
    if (Array.isArray(value)) {
      value.forEach((item, index) => (value[index] = walk(item, [...path, index])));
      return value;
    }
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      const child = walk(object[key], [...path, key]);
      const name = key.includes('$') ? expand(key, (problem, message) => report(problem, message, [...path, key], 'key'), env) : key;
      if (name !== key) delete object[key];
      object[name] = child;
    }
    return object;
  };
  return walk(data, []);
}

export function expand(value: string, report: (problem: 'syntax' | 'unset', message: string) => void, env: NodeJS.ProcessEnv): string {
  return value.replace(REFERENCE, (whole, inner: string | undefined) => {
    if (whole === '$$') return '$';
    const match = NAME.exec(inner ?? '');
    if (!match) {
      report('syntax', `"${whole}" is not a valid reference: use \${NAME} or \${NAME:-default}`);
      return whole;
    }
    const [, name, fallback] = match;
    const current = env[name!];
    if (current !== undefined && current !== '') return current;
    if (fallback !== undefined) return fallback;
    report('unset', `environment variable ${name} is not set and has no default (write \${${name}:-default} to give one)`);
    return '';
  });
}

