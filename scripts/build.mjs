#!/usr/bin/env node
// Production build into dist/: the CLI compiled to JavaScript (esbuild, with most packages bundled
// in: see EXTERNAL), and the workflow bundle, so a worker loads it instead of running webpack at every
// start (which also needs a writable filesystem). The image runs only what this writes.
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

const root = fileURLToPath(new URL('..', import.meta.url));
// `--outdir <dir>` for the production-build test; default dist/. `--cli-only` leaves out the
// workflow bundle: the test run's CLI processes load the one bundle its global setup made.
const at = process.argv.indexOf('--outdir');
const dist = at > 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : join(root, 'dist');
const cliOnly = process.argv.includes('--cli-only');

/**
 * Packages loaded from node_modules rather than bundled. The Temporal SDK (and what it shares with
 * the worker's own copies: gRPC, protobuf) must be one copy per process: activity context, failure
 * classes and converters are matched by identity. pino starts its transports from file paths, and
 * vega looks for optional canvas modules at run time. Everything else (the AWS SDK, zod, pg, ...)
 * is bundled: a command then resolves a few files at start, not thousands, and `status` starts in
 * a little over half the CPU time.
 */
const EXTERNAL = [
  '@temporalio/*',
  '@grpc/*',
  'protobufjs',
  'protobufjs/*',
  'long',
  'nexus-rpc',
  'pino',
  'pino-pretty',
  'thread-stream',
  'vega',
  'vega-*',
];

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: { cli: 'src/interfaces/cli.ts' },
  outdir: dist,
  bundle: true,
  // The CLI imports each command lazily; chunks keep `status` from loading the worker's native module.
  splitting: true,
  // Chunks sit next to workflow-bundle.js, which the worker finds relative to its own module.
  chunkNames: '[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: EXTERNAL,
  // Bundled CommonJS packages require Node's built-in modules.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  outExtension: { '.js': '.mjs' },
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
});
// The image ships dist/ without support/ or test/ and without dev dependencies: nothing from them
// may be bundled in (the lint rules say the same of the sources; this checks what was built).
const strays = Object.keys(metafile.inputs).filter((input) => /^(support|test)\//.test(input));
if (strays.length) throw new Error(`the production build bundled support code: ${strays.join(', ')}`);
// The failure converter that encodes failure messages and stack traces (and so, with payload
// encryption, encrypts them) is loaded by path: next to the chunks for clients and activities, and
// inside the prebuilt bundle for workflow code, which cannot take it at worker start.
const failureConverterPath = join(root, 'src', 'infrastructure', 'failure-converter.cjs');
await copyFile(failureConverterPath, join(dist, 'failure-converter.cjs'));
if (cliOnly) {
  console.log(`built ${dist}: cli.mjs`);
  process.exit(0);
}
const { code } = await bundleWorkflowCode({
  workflowsPath: join(root, 'workflows', 'index.ts'),
  failureConverterPath,
  logger: new DefaultLogger('WARN'),
});
await writeFile(join(dist, 'workflow-bundle.js'), code);
console.log(`built ${dist}: cli.mjs and workflow-bundle.js`);
