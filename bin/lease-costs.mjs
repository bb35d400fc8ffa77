#!/usr/bin/env node
// In a checkout (TypeScript sources present) the CLI runs through tsx, so there is no build step to
// forget and no stale dist/ to run by mistake. The image ships only dist/ (`npm run build`): compiled
// JavaScript, and no tsx.
import { existsSync } from 'node:fs';
import module from 'node:module';

// V8's compiled code for the modules below is kept on disk (os.tmpdir()), so every command after
// the first starts with less CPU. A directory it cannot write only means no cache; a Node without
// the API (before 22.1) runs without one.
module.enableCompileCache?.();

const source = new URL('../src/interfaces/cli.ts', import.meta.url);
const compiled = new URL('../dist/cli.mjs', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  console.error('lease-costs: neither src/ nor dist/ found next to bin/; run `npm run build`');
  process.exit(1);
}
await main(process.argv);
