import { evaluateExpression, evaluateTemplate } from '../core/expressions.js';
import { EdaflowError } from '../errors/index.js';

/*
 * JSONata evaluates asynchronously; XState's guards and `assign` are synchronous. We keep XState's own
 * semantics (guard order, assign order, `always` chains, entry/exit order) by running its pure
 * `transition` against a memo of evaluations:
 *
 * 1. run the transition; a guard or assign whose value is not in the memo records what it needs and
 *    throws (XState may wrap that error, or, in an initial transition, turn it into an `error`
 *    snapshot: the recorded request is what counts, not the error);
 * 2. evaluate that expression (async) against the scope the guard saw, store it in the memo;
 * 3. run the same transition again from the same snapshot, until one run needs nothing new.
 *
 * The transition is a pure function of (snapshot, event, memo), so each rerun goes at least one
 * evaluation further and the last run is exactly the transition XState would take with synchronous
 * expressions. Each (expression, context) pair is evaluated once per event, so nondeterministic
 * functions ($now, $random) stay consistent within a transition. A step needing more than
 * MAX_EVALUATIONS distinct evaluations is taken for an `always` loop that never settles.
 *
 * Effects (send/emit/invoke data) are not evaluated here: XState returns them as action objects with
 * the context and event they saw, and they are evaluated after the transition.
 */
const MAX_EVALUATIONS = 1_000;

interface PendingEvaluation {
  readonly key: string;
  readonly evaluate: () => Promise<unknown>;
}

/** Thrown to stop a transition that needs an evaluation; never escapes `settle`. */
class EvaluationNeeded extends Error {}

/** The memo of one event's evaluations. */
export class Evaluations {
  private readonly values = new Map<string, unknown>();
  private pending: PendingEvaluation | undefined;

  constructor(private readonly saga: string) {}

  /** A guard's result; the first time it is needed, records the request and throws (see `settle`). */
  guard(expression: string, scope: ExpressionScope): boolean {
    return Boolean(this.lookup(`when\u0000${expression}`, scope, () => evaluateExpression(expression, scope)));
  }

  /** An `assign` template's value, merged into the context by the caller. */
  template(template: unknown, scope: ExpressionScope): Record<string, unknown> {
    const value = this.lookup(`assign\u0000${JSON.stringify(template)}`, scope, () => evaluateTemplate(template, scope));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  }

  /** Runs `compute` (a pure XState transition) until every expression it needs has been evaluated. */
  async settle<T>(compute: () => T): Promise<T> {
    for (;;) {
      this.takePending();
      let value: T | undefined;
      let failure: { error: unknown } | undefined;
      try {
        value = compute();
      } catch (error) {
        failure = { error };
      }
      const pending = this.takePending();
      if (!pending) {
        if (failure) throw failure.error;
        return value as T;
      }
      if (this.values.size >= MAX_EVALUATIONS) {
        throw new EdaflowError('EDA_SAGA_EXPRESSION', `saga ${this.saga}: one event needed more than ${MAX_EVALUATIONS} evaluations; an \`always\` transition probably loops`, { details: { saga: this.saga } });
      }
      this.values.set(pending.key, await pending.evaluate());
    }
  }

  private takePending(): PendingEvaluation | undefined {
    const pending = this.pending;
    this.pending = undefined;
    return pending;
  }

  private lookup(kind: string, scope: ExpressionScope, evaluate: () => Promise<unknown>): unknown {
    // The event is the same for every evaluation of one `settle`: the context tells the scopes apart.
    const key = `${kind}\u0000${JSON.stringify(scope.context)}`;
    if (this.values.has(key)) return this.values.get(key);
    this.pending = { key, evaluate: async () => {
      try {
        return toJson(await evaluate());
      } catch (error) {
        const expression = kind.slice(kind.indexOf('\u0000') + 1);
        throw new EdaflowError('EDA_SAGA_EXPRESSION', `saga ${this.saga}: ${expression}: ${(error as Error).message}`, { cause: error, details: { saga: this.saga, expression } });
      }
    } };
    throw new EvaluationNeeded(`needs ${kind}`);
  }
}

/** What saga expressions see: the message's envelope fields, plus `context` and the message as `event`. */
export interface ExpressionScope {
  readonly context: Readonly<Record<string, unknown>>;
  readonly event: unknown;
  readonly [field: string]: unknown;
}

export function expressionScope(context: Readonly<Record<string, unknown>>, message: unknown): ExpressionScope {
  const fields = message !== null && typeof message === 'object' ? (message as Record<string, unknown>) : {};
  return { ...fields, context, event: message };
}

/**
 * JSONata results as plain JSON: its sequences carry extra properties and functions are not data, and
 * a snapshot must read back equal after a JSON round trip.
 */
export function toJson(value: unknown): unknown {
  const text = value === undefined ? undefined : JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}
