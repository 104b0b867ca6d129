import { defineConfig } from 'vitest/config';

/**
 * Two projects: every suite on its default log (embedded), and the end-to-end suites that exercise
 * the log again with the engine on the real Pulsar broker (ABE_TEST_LOG=pulsar: each test engine gets
 * a namespace of its own, engine/testing/harness.ts). The broker comes from engine/testing/pulsar-setup.ts.
 */
const PULSAR_E2E = [
  'engine/e2e/rest.test.ts',
  'engine/e2e/delivery.test.ts',
  'engine/e2e/resume.test.ts',
  'engine/e2e/mqtt-delivery.test.ts',
  'engine/e2e/mqtt-session.test.ts',
  'engine/e2e/mqtt-flow.test.ts',
  'engine/e2e/ws-fast-paths.test.ts',
  'engine/e2e/acks-backpressure.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Suites start real servers on ephemeral ports; forks keep native addons (uWS, lmdb) isolated.
    pool: 'forks',
    globalSetup: ['engine/testing/pulsar-setup.ts'],
    projects: [
      { extends: true, test: { name: 'embedded', include: ['engine/**/*.test.ts', 'loadtest/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts', 'client/**/*.test.ts'] } },
      { extends: true, test: { name: 'pulsar', include: PULSAR_E2E, env: { ABE_TEST_LOG: 'pulsar' } } },
    ],
  },
});
