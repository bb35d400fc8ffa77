// Prints vitest's totals as the plain "N passed, N failed" line that CI log readers understand.
// A file whose setup failed has no failed test of its own (its tests count as skipped), so such
// files count as failures here: the line must never say 0 failed for a run that failed.
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(new URL('../test-output/vitest.json', import.meta.url), 'utf8'));
const brokenFiles = (r.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
).length;
console.log(
  `tests: ${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed, ${r.numPendingTests + r.numTodoTests} skipped`,
);
