import { describe, expect, it } from 'vitest';
import type { Definitions } from '../../runtime/definitions/index.js';
import { createProcessor, streamModels, type StreamModel } from '../../runtime/streams/index.js';
import { asGolden, canonical, FIXTURES, goldenDefinitions, readFixture, toEnvelope, type GoldenCase, type GoldenFixture, type GoldenOutput } from './golden.js';

/**
 * The pure core against the golden fixtures: each stream's processor fed a case's records in order,
 * behind an inbox (a set of message ids seen, as the durable runner's inbox table) that drops repeats.
 */
async function runCore(model: StreamModel, fixture: GoldenFixture, golden: GoldenCase): Promise<{ outputs: GoldenOutput[]; dropped: Record<string, number> }> {
  const processor = createProcessor(model);
  const seen = new Set<string>();
  const outputs: GoldenOutput[] = [];
  const dropped: Record<string, number> = {};
  for (const input of golden.input) {
    if (!model.inputs.some((candidate) => candidate.event === input.type)) continue;
    if (seen.has(input.id)) {
      dropped['duplicate'] = (dropped['duplicate'] ?? 0) + 1;
      continue;
    }
    seen.add(input.id);
    const result = await processor.step(toEnvelope(fixture, input));
    if (result.dropped) dropped[result.dropped] = (dropped[result.dropped] ?? 0) + 1;
    outputs.push(...result.outputs.map(asGolden));
  }
  return { outputs, dropped };
}

let definitions: Definitions | undefined;
async function models(): Promise<Map<string, StreamModel>> {
  definitions ??= await goldenDefinitions();
  return new Map(streamModels(definitions).map((model) => [model.name, model]));
}

for (const name of FIXTURES) {
  const fixture = readFixture(name);
  describe(`golden ${name} (pure core)`, () => {
    for (const golden of fixture.cases) {
      for (const [stream, expected] of Object.entries(golden.expected)) {
        it(`${stream}: ${golden.name}`, async () => {
          const model = (await models()).get(stream)!;
          const { outputs, dropped } = await runCore(model, fixture, golden);
          if (golden.ordered) expect(outputs).toEqual(expected.outputs);
          else expect(canonical(outputs)).toEqual(canonical(expected.outputs));
          expect(dropped).toEqual(expected.dropped);
        });
      }
    }
  });
}

describe('outputs carry deterministic ids', () => {
  it('the same records give the same output ids, in any arrival order within grace', async () => {
    const fixture = readFixture('join');
    const model = (await models()).get('OuterJoin')!;
    const ids = async (golden: GoldenCase): Promise<string[]> => {
      const processor = createProcessor(model);
      const all: string[] = [];
      for (const input of golden.input) all.push(...(await processor.step(toEnvelope(fixture, input))).outputs.map((output) => output.id));
      return all.sort();
    };
    const [inOrder, shuffled] = [await ids(fixture.cases[0]!), await ids(fixture.cases[1]!)];
    expect(inOrder).toHaveLength(7);
    expect(new Set(inOrder).size).toBe(7);
    expect(shuffled).toEqual(inOrder);
  });
});
