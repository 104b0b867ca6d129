import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['engine/**/*.test.ts', 'loadtest/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Suites start real servers on ephemeral ports; forks keep native addons (uWS, lmdb) isolated.
    pool: 'forks',
  },
});
