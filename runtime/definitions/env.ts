import { visit, type Scalar } from 'yaml';
import type { DiagnosticBag } from './diagnostics.js';
import { nodeLocation, type SourceFile } from './source.js';

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

