import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../runtime/store/database.js';
import { openTestEmbedded } from '../conformance/adapters/postgres.js';
import { DurableHarness, runGoldenCase } from './durable.js';
import { FIXTURES, goldenDefinitions, readFixture } from './golden.js';

/**
 * The golden fixtures through the durable runner, on the embedded default (PGlite, the implicit
 * postgres broker): consumer groups, the inbox, state rows, leases and the outbox in one transaction.
 */
describe('golden fixtures through the durable runner (embedded database, postgres broker)', () => {
  let database: Database;
  let dispose: () => Promise<void>;
  let harness: DurableHarness;

  beforeAll(async () => {
    ({ database, dispose } = await openTestEmbedded());
    harness = await DurableHarness.open(await goldenDefinitions(), database);
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await database?.close();
    await dispose?.();
  });

  for (const name of FIXTURES) {
    const fixture = readFixture(name);
    for (const golden of fixture.cases) {
      it(`${name}: ${golden.name}`, async () => {
        const outputs = await runGoldenCase(harness, fixture, golden);
        expect(new Set(outputs.map((output) => output.id)).size).toBe(outputs.length);
      }, 120_000);
    }
  }

  it('state survives a restart: the join and the windows stopped and started after every record give the same outputs', async () => {
    for (const name of FIXTURES) {
      const fixture = readFixture(name);
      const golden = fixture.cases[0]!;
      await harness.resetStreams();
      await harness.startStreams();
      await harness.feed(fixture, golden, async () => {
        await harness.stopStreams();
        await harness.startStreams();
      });
      const total = Object.values(golden.expected).reduce((sum, expected) => sum + expected.outputs.length, 0);
      await harness.collect(total);
      for (const [stream, expected] of Object.entries(golden.expected)) expect(harness.outputsOf(stream), stream).toEqual(expected.outputs);
    }
  }, 240_000);
});
