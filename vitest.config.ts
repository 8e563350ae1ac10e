import { defineConfig } from 'vitest/config';

/**
 * Tests that stop a shared server (RabbitMQ, NATS) mid-run, and the streams crash test: alone, after
 * everything else. The streams crash test passes alone in ~50 s but stalled beside the rest of the
 * suite (its topic readers wait for the oldest transaction running anywhere on the server); it runs
 * here until that is understood.
 */
const SERVER_RESTARTS = ['test/brokers/*-restart.test.ts', 'test/streams/crash.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // 2-core CI machine: keep parallelism modest so timing-sensitive broker tests stay honest.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts', 'runtime/**/*.test.ts', 'codegen/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...SERVER_RESTARTS],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'server-restarts', include: SERVER_RESTARTS, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
