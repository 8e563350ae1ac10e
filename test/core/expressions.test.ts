import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { compileFastPath, UNDECIDED } from '../../runtime/core/expression-fast-path.js';
import { evaluateExpression, evaluateTemplate } from '../../runtime/core/expressions.js';

const SCOPE = {
  id: 'm-1',
  data: { orderId: 'o-7', amount: 12.5, count: 3, zero: 0, flag: true, off: false, nothing: null, text: 'abc', items: [1, 2], nested: { deep: { value: 4 } }, empty: '' },
  state: { count: 2, total: 10 },
  key: 'c-1',
};

/** JSONata's own answer: the value, or the error code it raises. */
async function byJsonata(source: string, scope: unknown): Promise<unknown> {
  try {
    return { value: await jsonata(source).evaluate(scope) };
  } catch (error) {
    return { error: (error as { code?: string }).code };
  }
}

async function byEdaflow(source: string, scope: unknown): Promise<unknown> {
  try {
    return { value: await evaluateExpression(source, scope) };
  } catch (error) {
    return { error: (error as { code?: string }).code };
  }
}

function fastValue(source: string, scope: unknown): unknown {
  const fast = compileFastPath(jsonata(source).ast());
  if (!fast) throw new Error(`${source} has no fast path`);
  return fast(scope);
}

describe('expressions: the fast path decides plain cases as JSONata does', () => {
  it.each([
    ['data.orderId', 'o-7'],
    ['data.nested.deep.value', 4],
    ['data.missing', undefined],
    ['data.nothing', null],
    ['key', 'c-1'],
    ['state.count + 1', 3],
    ['state.total + data.amount', 22.5],
    ['data.count * 2 - 1', 5],
    ['data.count % 2', 1],
    ['-data.count', -3],
    ['data.missing + 1', undefined],
    ['data.amount > 10', true],
    ['data.text < "abd"', true],
    ['data.orderId = "o-7"', true],
    ['data.orderId != "o-7"', false],
    ['data.missing = 1', false],
    ['data.flag and data.count > 2', true],
    ['data.off or data.flag', true],
    ['"literal"', 'literal'],
    ['true', true],
    ['null', null],
  ])('%s', async (source, expected) => {
    expect(fastValue(source, SCOPE)).toEqual(expected);
    expect(await byEdaflow(source, SCOPE)).toEqual(await byJsonata(source, SCOPE));
  });

  it.each([
    ['data.items', 'an array is a sequence to JSONata'],
    ['data.text + 1', 'a string operand is JSONata error T2001'],
    ['data.nothing + 1', 'null is not a number'],
    ['data.count / data.zero', 'an infinite result'],
    ['data.missing < 1', 'an ordering with an absent side'],
    ['data.text < 1', 'a string against a number is JSONata error T2009'],
    ['data.nested = data.nested', 'objects compare deeply'],
    ['data.text and true', 'a string is made boolean by JSONata rules'],
    ['data.text.length', 'a step into a primitive'],
    ['data.toString', 'an inherited property'],
  ])('%s is left to JSONata (%s)', async (source) => {
    expect(fastValue(source, SCOPE)).toBe(UNDECIDED);
    expect(await byEdaflow(source, SCOPE)).toEqual(await byJsonata(source, SCOPE));
  });

  it.each<[string, unknown, string]>([
    ['x', { _jsonata_function: true, x: 1 }, 'an object JSONata takes for a function'],
    ['a.b', { a: { _jsonata_lambda: true, b: 1 } }, 'an object JSONata takes for a lambda'],
    ['x = 1', { _jsonata_function: true, x: 1 }, 'the same, under an operator'],
    ['a', { a: { then: (resolve: (value: number) => void) => resolve(42) } }, 'a thenable, which JSONata awaits'],
    ['a.b', { a: { then: (resolve: (value: unknown) => void) => resolve({ b: 2 }), b: 1 } }, 'a thenable on the way'],
  ])('%s over %j is left to JSONata (%s)', async (source, scope) => {
    expect(fastValue(source, scope)).toBe(UNDECIDED);
    expect(await byEdaflow(source, scope)).toEqual(await byJsonata(source, scope));
  });

  it('has no fast path for functions, variables, predicates, `[]`, or a group on a negation', () => {
    for (const source of ['$sum(data.items)', '$x', 'data.items[0]', 'data.items[]', 'data.{ "a": 1 }', 'data.text & "x"', '$', '-a{"k": 1}', '1 + -a{"k": 1}']) {
      expect(compileFastPath(jsonata(source).ast()), source).toBeUndefined();
    }
  });

  it('agrees with JSONata on 3,000 random expressions over random scopes', async () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const values: unknown[] = [0, 1, -2.5, 7, 'a', 'b', '', true, false, null, [1], { x: 1 }, undefined];
    const operators = ['+', '-', '*', '/', '%', '<', '<=', '>', '>=', '=', '!=', 'and', 'or'];
    const operand = (): string => pick(['a', 'b', 'c.d', 'c.e', 'missing', '1', '2.5', '"a"', 'true', 'null', '-a']);
    let decided = 0;
    for (let n = 0; n < 3000; n++) {
      const scope: Record<string, unknown> = { a: pick(values), b: pick(values), c: pick([{ d: pick(values), e: pick(values) }, 'text', [{ d: 1 }], null]) };
      const source = random() < 0.3 ? operand() : random() < 0.7 ? `${operand()} ${pick(operators)} ${operand()}` : `${operand()} ${pick(operators)} ${operand()} ${pick(operators)} ${operand()}`;
      const fast = compileFastPath(jsonata(source).ast());
      if (fast && fast(scope) !== UNDECIDED) decided++;
      expect(await byEdaflow(source, scope), `${source} over ${JSON.stringify(scope)}`).toEqual(await byJsonata(source, scope));
    }
    // The comparison means something only if the fast path took a good share of the cases.
    expect(decided).toBeGreaterThan(1000);
  });
});

describe('templates', () => {
  it('evaluate nested objects and arrays, keep literals, and drop keys whose expression yields nothing', async () => {
    const template = { order: '{% data.orderId %}', total: '{% $sum(data.items) %}', gone: '{% data.missing %}', fixed: 5, list: ['{% key %}', 'x', { n: '{% state.count + 1 %}' }] };
    const first = await evaluateTemplate(template, SCOPE);
    expect(first).toEqual({ order: 'o-7', total: 3, fixed: 5, list: ['c-1', 'x', { n: 3 }] });
    expect(Object.keys(first as object)).not.toContain('gone');
    // Compiled once per template: a second scope gets its own answer.
    expect(await evaluateTemplate(template, { ...SCOPE, key: 'c-2', data: { orderId: 'o-8', items: [5] }, state: { count: 9 } })).toEqual({ order: 'o-8', total: 5, fixed: 5, list: ['c-2', 'x', { n: 10 }] });
  });

  it('passes a literal through and rejects with JSONata`s error', async () => {
    expect(await evaluateTemplate('plain', SCOPE)).toBe('plain');
    expect(await evaluateTemplate(null, SCOPE)).toBeNull();
    await expect(evaluateTemplate({ bad: '{% data.text + 1 %}' }, SCOPE)).rejects.toMatchObject({ code: 'T2001' });
  });
});
