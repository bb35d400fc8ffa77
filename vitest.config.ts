import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The long files (fault cases that wait out timeouts and outages, then the stack-level
 * integration files) start first, so on a fresh clone, with no timing cache, none of them
 * starts last and stretches the run.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) =>
      f.moduleId.includes('/test/faults/') ? 0 : f.moduleId.includes('/test/integration/') ? 1 : 2;
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/file-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Native Temporal bindings are happier in child processes than in worker threads.
    pool: 'forks',
    // A process runs file after file and loads the SDKs once, not once per file, which would cost
    // about an eighth of the run's CPU. test/file-setup.ts gives each file the run's environment.
    isolate: false,
    // Most files spend their time waiting on timers, servers and retries, not on CPU, so five
    // files run at once.
    maxWorkers: 5,
    sequence: { sequencer: LongestFirst },
    // AWS SDK releases nag about Node 20 on every client construction.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // The JSON report feeds scripts/test-summary.mjs, whose closing line CI reads.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-output/vitest.json' },
  },
});
