#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/interfaces/cli.ts');
await main(process.argv);
