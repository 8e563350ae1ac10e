import jsonata from 'jsonata';
import { compileFastPath, UNDECIDED } from './expression-fast-path.js';

export type Expression = jsonata.Expression;

/** Evaluates a compiled expression or template against a scope: a value, or a promise of one when JSONata itself runs. */
type Evaluator = (scope: unknown) => unknown;

const TEMPLATE_EXPRESSION = /^\{%([\s\S]*)%\}$/;
const expressions = new Map<string, { readonly expression: Expression; readonly evaluate: Evaluator }>();
const templates = new WeakMap<object, Evaluator>();

/** Compiles a JSONata expression once per process; throws jsonata's error (with `position`) on bad syntax. */
export function compileExpression(source: string): Expression {
  return compiled(source).expression;
}

function compiled(source: string): { readonly expression: Expression; readonly evaluate: Evaluator } {
  let entry = expressions.get(source);
  if (!entry) {
    const expression = jsonata(source);
    const fast = compileFastPath(expression.ast());
    const evaluate: Evaluator = fast
      ? (scope) => {
          const value = fast(scope);
          return value === UNDECIDED ? expression.evaluate(scope) : value;
        }
      : (scope) => expression.evaluate(scope);
    entry = { expression, evaluate };
    expressions.set(source, entry);
  }
  return entry;
}

/** The expression inside a template string `"{% expr %}"`, or undefined for a literal. */
export function templateExpression(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TEMPLATE_EXPRESSION.exec(value.trim());
  return match ? match[1]!.trim() : undefined;
}

export async function evaluateExpression(source: string, scope: unknown): Promise<unknown> {
  return compiled(source).evaluate(scope);
}

/**
 * Evaluates a template: literals stay as they are, `"{% expr %}"` strings are evaluated against `scope`,
 * objects and arrays nest (the AWS Step Functions JSONata convention). An expression yielding nothing
 * drops the key, as JSONata's own object constructors do.
 */
export async function evaluateTemplate(template: unknown, scope: unknown): Promise<unknown> {
  return templateEvaluator(template)(scope);
}

/**
 * A template compiled once (per template object: they come from the definitions, which do not change
 * while they are in use), so evaluating it neither matches strings against the `{% %}` form again nor
 * waits on a promise for each part that plain JavaScript decided.
 */
function templateEvaluator(template: unknown): Evaluator {
  if (template === null || typeof template !== 'object') {
    const expression = templateExpression(template);
    return expression === undefined ? () => template : compiled(expression).evaluate;
  }
  let evaluator = templates.get(template);
  if (!evaluator) {
    evaluator = Array.isArray(template) ? arrayEvaluator(template.map(templateEvaluator)) : objectEvaluator(Object.entries(template).map(([key, value]) => [key, templateEvaluator(value)]));
    templates.set(template, evaluator);
  }
  return evaluator;
}

function arrayEvaluator(items: readonly Evaluator[]): Evaluator {
  return (scope) => {
    const values = items.map((item) => item(scope));
    return values.some(isPromise) ? Promise.all(values) : values;
  };
}

function objectEvaluator(entries: readonly (readonly [string, Evaluator])[]): Evaluator {
  const build = (values: readonly unknown[]): Record<string, unknown> => {
    const result: Record<string, unknown> = {};
    entries.forEach(([key], index) => {
      if (values[index] !== undefined) result[key] = values[index];
    });
    return result;
  };
  return (scope) => {
    const values = entries.map(([, evaluate]) => evaluate(scope));
    return values.some(isPromise) ? Promise.all(values).then(build) : build(values);
  };
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}
