import jsonata from 'jsonata';

export type Expression = jsonata.Expression;

const TEMPLATE_EXPRESSION = /^\{%([\s\S]*)%\}$/;
const cache = new Map<string, Expression>();

/** Compiles a JSONata expression once per process; throws jsonata's error (with `position`) on bad syntax. */
export function compileExpression(source: string): Expression {
  let compiled = cache.get(source);
  if (!compiled) {
    compiled = jsonata(source);
    cache.set(source, compiled);
  }
  return compiled;
}

/** The expression inside a template string `"{% expr %}"`, or undefined for a literal. */
export function templateExpression(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TEMPLATE_EXPRESSION.exec(value.trim());
  return match ? match[1]!.trim() : undefined;
}

export async function evaluateExpression(source: string, scope: unknown): Promise<unknown> {
  return compileExpression(source).evaluate(scope);
}

/**
 * Evaluates a template: literals stay as they are, `"{% expr %}"` strings are evaluated against `scope`,
 * objects and arrays nest (the AWS Step Functions JSONata convention). An expression yielding nothing
 * drops the key, as JSONata's own object constructors do.
 */
export async function evaluateTemplate(template: unknown, scope: unknown): Promise<unknown> {
  const expression = templateExpression(template);
  if (expression !== undefined) return evaluateExpression(expression, scope);
  if (Array.isArray(template)) return Promise.all(template.map((item) => evaluateTemplate(item, scope)));
  if (template !== null && typeof template === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) {
      const evaluated = await evaluateTemplate(value, scope);
      if (evaluated !== undefined) result[key] = evaluated;
    }
    return result;
  }
  return template;
}
