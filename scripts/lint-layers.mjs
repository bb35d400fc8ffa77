#!/usr/bin/env node
// The import rules on the resolved graph (dpdm; type-only and dynamic imports included), beside
// eslint's per-file patterns: what ships imports nothing from support/ or test/, and only packages
// in "dependencies" (the image installs no others); bench/ imports nothing from test/;
// src/infrastructure imports no activities. Prints each violation; exits 1 if there is any.
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDependencyTree } from 'dpdm';

const root = fileURLToPath(new URL('..', import.meta.url));
const { dependencies } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const shipped = /^(src|workflows|activities|bin)\//;
const packageOf = (request) =>
  request
    .split('/')
    .slice(0, request.startsWith('@') ? 2 : 1)
    .join('/');

// bin/ runs the TypeScript sources through tsx only when they are there: in a checkout.
const checkoutOnly = { 'bin/lease-costs.mjs': ['tsx'] };

const rules = [
  {
    from: shipped,
    to: /^(support|test)\//,
    why: 'shipped code imports nothing from support/ or test/ (the image has neither)',
  },
  { from: /^bench\//, to: /^test\//, why: 'bench/ imports nothing from test/ (shared helpers live in support/)' },
  {
    from: /^src\/infrastructure\//,
    to: /^(activities|src\/interfaces)\//,
    why: 'src/infrastructure imports neither activities/ nor src/interfaces (the composition root is src/interfaces/worker-composition.ts)',
  },
];

const tree = await parseDependencyTree(
  ['src/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts', 'bin/*.mjs', 'bench/**/*.ts', 'support/**/*.ts'],
  {
    context: root,
    tsconfig: `${root}tsconfig.json`,
    transform: false,
    skipDynamicImports: false,
  },
);
const problems = [];
for (const [file, deps] of Object.entries(tree)) {
  const issuer = relative(root, file);
  for (const dep of deps ?? []) {
    if (!dep.request.startsWith('.')) {
      const pkg = packageOf(dep.request);
      if (
        shipped.test(issuer) &&
        !isBuiltin(dep.request) &&
        !(pkg in dependencies) &&
        !checkoutOnly[issuer]?.includes(pkg)
      ) {
        problems.push(
          `${issuer}: imports ${dep.request}, which is not in "dependencies" (the image installs only those)`,
        );
      }
      continue;
    }
    if (dep.id === null) continue;
    const target = relative(root, dep.id);
    for (const rule of rules) {
      if (rule.from.test(issuer) && rule.to.test(target)) problems.push(`${issuer}: imports ${target}: ${rule.why}`);
    }
  }
}
for (const p of problems) console.error(p);
process.exit(problems.length ? 1 : 0);
