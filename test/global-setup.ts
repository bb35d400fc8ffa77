import { execFile } from 'node:child_process';
import { copyFile, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { startTemporalDevServer } from '../support/dev-server';
import { startEmbeddedLedger } from '../support/ledger-server';
import { startMoto } from '../support/moto';
import { repoRoot } from '../support/tools';
import { CHECKOUT_BUNDLE_PATH, checkoutWorkflowBundle } from '../src/infrastructure/workflow-bundle';

const ISOLATED_NAMESPACE = 'isolated';
/**
 * A Worker Deployment Version's drainage (draining → drained) is refreshed every 3 minutes after a
 * 3-minute grace by default (the server's matching.wv.* dynamic config): seconds here, so the
 * versioning test sees `drained` as an operator would, later.
 */
const DRAINAGE_NOW = [
  'matching.wv.VersionDrainageStatusRefreshInterval="1s"',
  'matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"',
].flatMap((v) => ['--dynamic-config-value', v]);
/**
 * One partition per task queue (the server's default is four): the suite's hundreds of task
 * queues each live for a file, and no test depends on how a queue is split.
 */
const ONE_PARTITION = ['matching.numTaskqueueReadPartitions=1', 'matching.numTaskqueueWritePartitions=1'].flatMap(
  (v) => ['--dynamic-config-value', v],
);

// One dev server, one moto and one workflow bundle for the whole run: each costs seconds of CPU.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const timings: string[] = [];
  const timed = <T>(label: string, p: Promise<T>) =>
    p.then((v) => (timings.push(`${label} ${((Date.now() - t0) / 1000).toFixed(1)}s`), v));
  // allSettled: when one fails, the others must still be started before they can be stopped.
  const [temporal, moto, bundle, ledger, cli] = await Promise.allSettled([
    timed(
      'temporal',
      startTemporalDevServer({
        uiPort: false,
        extraArgs: ['--namespace', ISOLATED_NAMESPACE, ...DRAINAGE_NOW, ...ONE_PARTITION],
      }),
    ),
    timed('moto', startMoto()),
    timed('bundle', bundleWorkflows()),
    // The workers' cost ledger: in memory, served over the wire protocol like `dev`'s.
    timed('ledger', startEmbeddedLedger()),
    timed('cli', buildCli()),
  ]);
  const servers: { stop(): Promise<void> }[] = [temporal, moto, ledger, cli].flatMap((r) =>
    r.status === 'fulfilled' ? [r.value] : [],
  );
  const teardown = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
  if (
    temporal.status === 'rejected' ||
    moto.status === 'rejected' ||
    bundle.status === 'rejected' ||
    ledger.status === 'rejected' ||
    cli.status === 'rejected'
  ) {
    await teardown();
    const failed = [temporal, moto, bundle, ledger, cli].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    throw failed.reason;
  }
  console.info(`[global-setup] ready: ${timings.join(', ')}`);
  project.provide('temporalAddress', temporal.value.address);
  project.provide('isolatedNamespace', ISOLATED_NAMESPACE);
  project.provide('motoEndpoint', moto.value.endpoint);
  project.provide('ledgerUrl', ledger.value.url);
  project.provide('workflowBundlePath', bundle.value.path);
  project.provide('workflowBundleError', bundle.value.error);
  project.provide('cliBin', cli.value.bin);
  return teardown;
}

/**
 * The CLI as the image ships it (`scripts/build.mjs`: compiled JavaScript in dist/, run by bin/),
 * which the tests' command processes run: what ships is what is tested, and a process skips
 * compiling TypeScript at start. The packages are the checkout's; the production-build test checks
 * the production install on its own. One directory per run, so runs side by side do not share one.
 */
async function buildCli(): Promise<{ bin: string; stop(): Promise<void> }> {
  const app = join(repoRoot, 'test-output', `app-${process.pid}`);
  await rm(app, { recursive: true, force: true });
  await mkdir(join(app, 'bin'), { recursive: true });
  await promisify(execFile)(process.execPath, ['scripts/build.mjs', '--outdir', join(app, 'dist'), '--cli-only'], {
    cwd: repoRoot,
    timeout: 120_000,
  });
  await copyFile(join(repoRoot, 'bin', 'lease-costs.mjs'), join(app, 'bin', 'lease-costs.mjs'));
  await copyFile(join(repoRoot, 'package.json'), join(app, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(app, 'node_modules'));
  return { bin: join(app, 'bin', 'lease-costs.mjs'), stop: () => rm(app, { recursive: true, force: true }) };
}

/**
 * The checkout's workflow bundle (checkoutWorkflowBundle), which every worker of the run loads: the
 * same file `dev` and `demo` reuse while the sources are unchanged.
 */
async function bundleWorkflows(): Promise<{ path: string | null; error: string | null }> {
  try {
    const bundle = await checkoutWorkflowBundle();
    if ('codePath' in bundle) return { path: bundle.codePath, error: null };
    throw new Error(`cannot write ${CHECKOUT_BUNDLE_PATH}`);
  } catch (err) {
    // Unit tests should still run; tests that need a worker fail with this message.
    const error = `bundling the workflow code failed: ${err instanceof Error ? err.message : String(err)}`;
    console.warn(`[global-setup] ${error}`);
    return { path: null, error };
  }
}
