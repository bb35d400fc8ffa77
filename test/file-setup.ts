import { afterAll } from 'vitest';

// Test files share their process (isolate: false in vitest.config.ts): what a file sets in
// process.env (a stack's AWS endpoints, say) is undone when it ends, so the next file starts from
// the environment the run began with.
const before = { ...process.env };
afterAll(() => {
  for (const key of Object.keys(process.env)) if (!(key in before)) delete process.env[key];
  Object.assign(process.env, before);
});
