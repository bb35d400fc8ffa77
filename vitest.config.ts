import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The long files (fault cases that wait out timeouts and outages, then the stack-level
 * integration files) start first, so on a fresh clone, with no timing cache, none of them
 * starts last and stretches the run.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => (f.moduleId.includes('/test/faults/') ? 0 : f.moduleId.includes('/test/integration/') ? 1 : 2);
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * Files that measure timing and run alone, after the rest: the pacer's burst asserts arrival times
 * that the Cost Explorer fake stamps in the test's own process, and a machine kept busy by five
 * other files can stall that process long enough to bunch the stamps.
 */
const ALONE = ['test/integration/pacer.test.ts'];

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ALONE, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
    ],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Native Temporal bindings are happier in child processes than in worker threads.
    pool: 'forks',
    // Most files spend their time waiting on timers, servers and retries, not on CPU (a full run
    // keeps the 2 cores about a third busy), so five files run at once.
    maxWorkers: 5,
    sequence: { sequencer: LongestFirst },
    // AWS SDK releases nag about Node 20 on every client construction.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // The JSON report feeds scripts/test-summary.mjs, whose closing line CI reads.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-output/vitest.json' },
  },
});
