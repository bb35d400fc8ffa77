// Prints vitest's totals as the plain "N passed, N failed" line that CI log readers understand.
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(new URL('../test-output/vitest.json', import.meta.url), 'utf8'));
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
