import { describe, expect, it } from 'vitest';
import { goldenCasesThroughTheRunner } from './durable.js';
import { FIXTURES, goldenDefinitions, readFixture } from './golden.js';

/**
 * The golden fixtures through the durable runner, on the embedded default (PGlite, the implicit
 * postgres broker): consumer groups, the inbox, state rows, leases and the outbox in one transaction.
 */
describe('golden fixtures through the durable runner (embedded database, postgres broker)', () => {
  const harnessOf = goldenCasesThroughTheRunner({ definitions: goldenDefinitions, timeoutMs: 120_000 });

  it('state survives a restart: the join and the windows stopped and started after every record give the same outputs', async () => {
    const harness = harnessOf();
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
