import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'runtime/**/*.test.ts', 'codegen/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // 2-core CI machine: keep parallelism modest so timing-sensitive broker tests stay honest.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
