#!/usr/bin/env node
// Run after `npm ci --omit=dev` in the image: @temporalio/core-bridge ships prebuilt native modules
// for every platform inside the package (no optional dependencies to omit) plus the Rust sources
// they were built from. Keep only the binary this machine loads.
import { readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(join(process.cwd(), 'package.json'));
const bridge = dirname(require.resolve('@temporalio/core-bridge/package.json'));
const { getPrebuiltTargetName, getPrebuiltPath } = require('@temporalio/core-bridge/common.js');
const keep = getPrebuiltTargetName();
getPrebuiltPath(); // throws when this platform has no binary: better at build time than at start

const removed = [];
for (const target of await readdir(join(bridge, 'releases'))) {
  if (target !== keep) removed.push(join('releases', target));
}
removed.push('sdk-core', 'src', 'bridge-macros', 'Cargo.toml', 'Cargo.lock');
await Promise.all(removed.map((p) => rm(join(bridge, p), { recursive: true, force: true })));
console.log(`@temporalio/core-bridge: kept releases/${keep}; removed ${removed.join(', ')}`);
