import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Native Temporal bindings are happier in child processes than in worker threads.
    pool: 'forks',
    // Most files spend their time waiting on timers, servers and retries, not on CPU (a full run
    // keeps the 2 cores about a quarter busy), so four files run at once.
    maxWorkers: 4,
    // AWS SDK releases nag about Node 20 on every client construction.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // The JSON report feeds scripts/test-summary.mjs, whose closing line CI reads.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-output/vitest.json' },
  },
});
