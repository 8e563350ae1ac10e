import type jsonata from 'jsonata';

/** What a fast evaluator returns when the value is not a plain case: JSONata itself must decide. */
export const UNDECIDED: unique symbol = Symbol('undecided');

export type FastEvaluator = (scope: unknown) => unknown;

/**
 * Plain JavaScript for the expressions definitions mostly hold: field paths (`data.orderId`), literals,
 * arithmetic (`state.total + event.data.amount`), comparisons and `and`/`or`. JSONata's evaluator is
 * asynchronous and allocates frames and sequences; for these it costs about 1.5 µs where a closure
 * costs a few nanoseconds, and a stream or a handler evaluates several per message. Each closure
 * decides only on plain JSON values whose JSONata meaning is unambiguous (objects without arrays on the
 * way, numbers for arithmetic, a number or string pair for `<`); on anything else (an array, which
 * JSONata treats as a sequence, a wrong type, which JSONata reports with its own error code, an infinite
 * result) it returns UNDECIDED, and the caller asks JSONata, so results and errors are JSONata's own.
 * Returns undefined for an expression outside that subset (functions, predicates, variables, ...).
 */
export function compileFastPath(ast: jsonata.ExprNode): FastEvaluator | undefined {
  const node = ast as Node;
  switch (node.type) {
    case 'path':
      return onlyKeys(node, PATH_KEYS) && node.steps?.every(isPlainName) ? pathOf(node.steps.map((step) => String(step.value))) : undefined;
    case 'number':
    case 'string':
    case 'value':
      return onlyKeys(node, LITERAL_KEYS) ? constant(node.value) : undefined;
    case 'unary':
      // `-a{...}` puts a group on the unary node itself.
      return node.value === '-' && node.expression && onlyKeys(node, UNARY_KEYS) ? negation(node.expression) : undefined;
    case 'binary':
      return node.lhs && node.rhs && onlyKeys(node, BINARY_KEYS) ? binary(String(node.value), node.lhs, node.rhs) : undefined;
    default:
      return undefined;
  }
}

/** The parts of JSONata's AST this file reads (jsonata's ExprNode types them loosely). */
interface Node {
  readonly type: string;
  readonly value?: unknown;
  readonly steps?: readonly Node[];
  readonly lhs?: Node;
  readonly rhs?: Node;
  readonly expression?: Node;
}

const PATH_KEYS = new Set(['type', 'steps', 'position']);
const NAME_KEYS = new Set(['type', 'value', 'position']);
const LITERAL_KEYS = NAME_KEYS;
const UNARY_KEYS = new Set(['type', 'value', 'expression', 'position']);
const BINARY_KEYS = new Set(['type', 'value', 'lhs', 'rhs', 'position']);

/** A node with nothing beyond `keys`: a step with a predicate, a stage, a focus or keepArray is not plain. */
function onlyKeys(node: Node, keys: ReadonlySet<string>): boolean {
  return Object.keys(node).every((key) => keys.has(key));
}

function isPlainName(step: Node): boolean {
  return step.type === 'name' && typeof step.value === 'string' && onlyKeys(step, NAME_KEYS);
}

function constant(value: unknown): FastEvaluator {
  return () => value;
}

/** A plain object (a JSON object) that JSONata reads as data (see isPlainValue). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return (prototype === Object.prototype || prototype === null) && isPlainValue(value);
}

/**
 * A value JSONata returns as it is: not a function, an array (a sequence), an object it takes for a
 * function (by its own marker properties), or a thenable (JSONata awaits every step's value).
 */
function isPlainValue(value: unknown): boolean {
  if (typeof value === 'function') return false;
  if (value === null || typeof value !== 'object') return true;
  const fields = value as Record<string, unknown>;
  return !Array.isArray(value) && fields['_jsonata_function'] !== true && fields['_jsonata_lambda'] !== true && typeof fields['then'] !== 'function';
}

/**
 * A field path: each step an own property of a plain object. A field that is absent (and not inherited)
 * makes the path undefined, as in JSONata; an array anywhere on the way or at its end is a sequence
 * for JSONata, and a primitive in the middle is JSONata's to judge.
 */
function pathOf(names: readonly string[]): FastEvaluator {
  return (scope) => {
    let current: unknown = scope;
    for (const name of names) {
      if (!isPlainObject(current)) return UNDECIDED;
      if (Object.hasOwn(current, name)) current = current[name];
      else if (name in current) return UNDECIDED;
      else return undefined;
    }
    return isPlainValue(current) ? current : UNDECIDED;
  };
}

function negation(operand: Node): FastEvaluator | undefined {
  const value = compileFastPath(operand as jsonata.ExprNode);
  if (!value) return undefined;
  return (scope) => {
    const number = value(scope);
    return isFiniteNumber(number) ? -number : UNDECIDED;
  };
}

const ARITHMETIC: Readonly<Record<string, (a: number, b: number) => number>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
};

const ORDER: Readonly<Record<string, (a: number | string, b: number | string) => boolean>> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function binary(operator: string, lhsNode: Node, rhsNode: Node): FastEvaluator | undefined {
  const lhs = compileFastPath(lhsNode as jsonata.ExprNode);
  const rhs = compileFastPath(rhsNode as jsonata.ExprNode);
  if (!lhs || !rhs) return undefined;
  const arithmetic = ARITHMETIC[operator];
  if (arithmetic) {
    return (scope) => {
      const a = lhs(scope);
      const b = rhs(scope);
      // JSONata: a non-number operand is its error to raise; else an absent operand makes the result absent.
      if (!(a === undefined || isFiniteNumber(a)) || !(b === undefined || isFiniteNumber(b))) return UNDECIDED;
      if (a === undefined || b === undefined) return undefined;
      const result = arithmetic(a, b);
      return Number.isFinite(result) ? result : UNDECIDED;
    };
  }
  const order = ORDER[operator];
  if (order) {
    return (scope) => {
      const a = lhs(scope);
      const b = rhs(scope);
      if ((isFiniteNumber(a) && isFiniteNumber(b)) || (typeof a === 'string' && typeof b === 'string')) return order(a, b);
      return UNDECIDED;
    };
  }
  if (operator === '=' || operator === '!=') {
    const equal = operator === '=';
    return (scope) => {
      const a = lhs(scope);
      const b = rhs(scope);
      if (a === UNDECIDED || b === UNDECIDED) return UNDECIDED;
      // JSONata: comparing with an absent value is false, for `!=` too.
      if (a === undefined || b === undefined) return false;
      if (!isPrimitive(a) || !isPrimitive(b)) return UNDECIDED;
      return (a === b) === equal;
    };
  }
  if (operator === 'and' || operator === 'or') {
    const isAnd = operator === 'and';
    return (scope) => {
      const a = lhs(scope);
      if (typeof a !== 'boolean') return UNDECIDED;
      if (a !== isAnd) return a;
      const b = rhs(scope);
      return typeof b === 'boolean' ? b : UNDECIDED;
    };
  }
  return undefined;
}

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
