import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeVersioningBehavior } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBillingWindow } from '../../src/domain/billing-window';
import type { LeaseStatus } from '../../src/domain/schemas';
import { repoRoot } from '../../support/tools';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { DeploymentReport, describeDeployment, PromoteResult } from '../../src/infrastructure/worker-deployment';
import { createWorker, type LeaseCostsWorker } from '../../src/interfaces/worker-composition';
import { pacerWorkflowIdOf, type LeaseCostsResult } from '../../workflows';
import { BUILD_B_MARKER } from '../fixtures/workflows-build-b';
import { runCli } from '../helpers/cli';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import {
  fetchHistory,
  listWhenSettled,
  workerOptionsBase,
  workflowBundlePath,
  type History,
} from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

// Worker Versioning on the real dev server: a lease started on build A finishes on A after build B
// (a changed lease workflow) becomes current, while new leases and re-runs go to B. The deploy's
// steps are the operator's (docs/upgrade.md): `lease-costs deployment promote|status`, run as the
// real CLI process.

const HOUR = 3600_000;
const ACCOUNT = '321098765432';
const DEPLOYMENT = `lease-costs-test-${randomBytes(3).toString('hex')}`;
const BUILD_A = 'build-a';
const BUILD_B = 'build-b';

let stack: Stack;
let workerB: LeaseCostsWorker | undefined;
let runningB: Promise<void> | undefined;

/** `lease-costs deployment …` against the stack's server, task queue and deployment. */
const deploymentCli = (args: string[]) =>
  runCli(['deployment', ...args], {
    TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
    TEMPORAL_DEPLOYMENT_NAME: DEPLOYMENT,
  });
const okJson = async <T>(args: string[], schema: { parse(v: unknown): T }): Promise<T> => {
  const res = await deploymentCli([...args, '--json']);
  expect(res.code, res.stderr).toBe(0);
  return schema.parse(JSON.parse(res.stdout));
};
/** The deploy step: the build becomes current once its workers poll every task queue. */
const promote = (buildId: string) => okJson(['promote', '--build-id', buildId, '--timeout', '30'], PromoteResult);
const target = () => ({
  namespace: 'default',
  deploymentName: DEPLOYMENT,
  taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
});

/** Build B's bundle, rebuilt only when the shared bundle (rebuilt on any workflow change) or the fixture changes. */
async function bundleBuildB(): Promise<string> {
  const fixture = fileURLToPath(new URL('../fixtures/workflows-build-b/index.ts', import.meta.url));
  const path = join(repoRoot, 'test-output', 'workflow-bundle-build-b.js');
  const key = createHash('sha256')
    .update(await readFile(workflowBundlePath()))
    .update(await readFile(fixture))
    .digest('hex');
  if (existsSync(path) && (await readFile(`${path}.key`, 'utf8').catch(() => '')) === key) return path;
  const { code } = await bundleWorkflowCode({ workflowsPath: fixture, logger: new DefaultLogger('WARN') });
  await writeFile(path, code);
  await writeFile(`${path}.key`, key);
  return path;
}

/** The build id of every completed workflow task, in order. */
function buildsOf(history: History): (string | undefined)[] {
  return (history.events ?? []).flatMap((e) => {
    const done = e.workflowTaskCompletedEventAttributes;
    return done ? [done.deploymentVersion?.buildId ?? undefined] : [];
  });
}

async function versioningOf(workflowId: string, runId?: string) {
  const desc = await stack.client.workflow.getHandle(workflowId, runId).describe();
  const info = desc.raw.workflowExecutionInfo?.versioningInfo;
  return {
    behavior: decodeVersioningBehavior(info?.behavior),
    buildId: info?.deploymentVersion?.buildId,
    deploymentName: info?.deploymentVersion?.deploymentName,
  };
}

function newLease() {
  const now = Date.now();
  const lease = {
    uuid: randomUUID(),
    userEmail: `versioning-${randomUUID().slice(0, 8)}@example.gov.uk`,
    accountId: ACCOUNT,
    startDate: new Date(now - 2 * 24 * HOUR).toISOString(),
    // Ended now with an hour's padding: without collectImmediately the run waits for `collectNow`.
    terminatedAt: new Date(now).toISOString(),
  };
  stack.isb.addLease({
    uuid: lease.uuid,
    userEmail: lease.userEmail,
    accountId: ACCOUNT,
    startDate: lease.startDate,
    status: 'Expired',
  });
  return lease;
}

async function start(
  lease: ReturnType<typeof newLease>,
  opts: { collectImmediately: boolean; rerunWindowHours: number },
) {
  const started = await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
    leaseUuid: lease.uuid,
    userEmail: lease.userEmail,
    accountId: lease.accountId,
    terminatedAt: lease.terminatedAt,
    paddingHours: 1,
    ...opts,
  });
  expect(started.status).toBe('started');
  return stack.client.workflow.getHandle(workflowIdFor(lease.uuid));
}

const statusWhen = (uuid: string, ok: (s: LeaseStatus) => boolean, what: string) =>
  waitFor(
    async () => {
      const s = await stack.client.workflow.getHandle(workflowIdFor(uuid)).query<LeaseStatus>('status');
      return ok(s) ? s : undefined;
    },
    30_000,
    what,
  );

/** Open runs pinned to A (the auto-upgrade pacer moves on by itself, so it does not count). */
const pinnedToA = `TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:${BUILD_A}' AND TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'`;

beforeAll(async () => {
  const [s, bundle] = await Promise.all([
    startStack({ env: { TEMPORAL_DEPLOYMENT_NAME: DEPLOYMENT, TEMPORAL_WORKER_BUILD_ID: BUILD_A } }),
    bundleBuildB(),
  ]);
  stack = s;
  stack.ce.addCosts(
    dailyCosts({
      accountId: ACCOUNT,
      start: '2020-01-01',
      end: '2100-01-01',
      service: 'AWS Lambda',
      resourceId: `arn:aws:lambda:eu-west-2:${ACCOUNT}:function:f`,
      region: 'eu-west-2',
      amount: '0.75',
    }),
  );
  // Build B (a changed lease workflow) is deployed beside A from the start: it polls, but gets no
  // work until it is made current.
  // The first versioned deploy, promoted as the workers start (as right after `cdk deploy`): the
  // command waits for A's workers to poll. Nothing was current before (unversioned workers).
  // B's worker starts once A's polls, so A's version is created first: `deployment status` lists
  // versions in creation order, and the assertions below read that order.
  const promotedA = promote(BUILD_A);
  const base = await workerOptionsBase();
  await stack.startWorker();
  expect(await promotedA).toEqual({
    deploymentName: DEPLOYMENT,
    buildId: BUILD_A,
    outcome: 'promoted',
    previous: null,
  });
  workerB = await createWorker(
    { ...stack.config, TEMPORAL_WORKER_BUILD_ID: BUILD_B },
    { connection: base.connection, workerOptions: { workflowBundle: { codePath: bundle } } },
  );
  runningB = workerB.run();
}, 120_000);

afterAll(async () => {
  if (workerB?.getState() === 'RUNNING') workerB.shutdown();
  await runningB;
  await stack?.stop();
});

describe('Worker Versioning: upgrades keep running leases on their build', () => {
  it('a lease started on build A finishes on A after B becomes current; new leases and re-runs use B', async () => {
    // On A: one lease waits out its settle delay, one has published and is open for re-runs.
    const waitingLease = newLease();
    const waiting = await start(waitingLease, { collectImmediately: false, rerunWindowHours: 0 });
    const rerunLease = newLease();
    await start(rerunLease, { collectImmediately: true, rerunWindowHours: 1 });
    await statusWhen(waitingLease.uuid, (s) => s.phase === 'waiting', 'the first lease waiting on A');
    await statusWhen(rerunLease.uuid, (s) => s.phase === 'published', 'the second lease published on A');
    // What docs/upgrade.md has the operator ask before stopping A: its open pinned runs.
    const onA = await listWhenSettled(
      stack.client,
      pinnedToA,
      (wf) => wf.workflowId,
      (ids) => ids.length === 2,
    );
    expect(new Set(onA)).toEqual(new Set([workflowIdFor(waitingLease.uuid), workflowIdFor(rerunLease.uuid)]));

    // Before the switch (what `deployment status --json` prints): A gets the new runs, B polls and
    // waits; both poll all three task queues.
    const before = DeploymentReport.parse(await describeDeployment(stack.client, target()));
    expect(before.current).toBe(BUILD_A);
    expect(before.versions.map((v) => [v.buildId, v.state, v.missingPollers])).toEqual([
      [BUILD_A, 'current', []],
      [BUILD_B, 'inactive', []],
    ]);

    // The deploy makes B current. Again is a no-op, a build with no workers is refused, and status
    // shows A draining: checked below, their processes running meanwhile.
    expect(await promote(BUILD_B)).toEqual({
      deploymentName: DEPLOYMENT,
      buildId: BUILD_B,
      outcome: 'promoted',
      previous: BUILD_A,
    });
    const after = Promise.all([
      promote(BUILD_B),
      deploymentCli(['promote', '--build-id', 'build-c', '--timeout', '0']),
      deploymentCli(['status']),
    ]);

    // A new lease starts on B and runs B's code.
    const fresh = newLease();
    const freshResult = (await (
      await start(fresh, { collectImmediately: true, rerunWindowHours: 0 })
    ).result()) as LeaseCostsResult & { builtBy?: string };
    expect(freshResult.builtBy).toBe(BUILD_B_MARKER);
    expect(new Set(buildsOf(await fetchHistory(stack.client, workflowIdFor(fresh.uuid))))).toEqual(new Set([BUILD_B]));

    // The waiting lease, woken now, runs its report on A: every task of it and of its child.
    await waiting.signal('collectNow');
    const result = (await waiting.result()) as LeaseCostsResult & { builtBy?: string };
    expect(result.builtBy).toBeUndefined();
    const window = computeBillingWindow({
      leaseStart: waitingLease.startDate,
      leaseEnd: waitingLease.terminatedAt,
      paddingHours: 1,
    });
    expect(result.billingWindow).toEqual(window);
    expect(result.total).toBe(stack.ce.expectedTotal({ accountId: ACCOUNT, ...window, recordType: 'Usage' }));
    const history = await fetchHistory(stack.client, waiting.workflowId);
    const builds = buildsOf(history);
    expect(builds.length).toBeGreaterThan(3);
    expect(new Set(builds)).toEqual(new Set([BUILD_A]));
    expect(new Set(buildsOf(await fetchHistory(stack.client, `${waiting.workflowId}-collect-v1`)))).toEqual(
      new Set([BUILD_A]),
    );
    expect(await versioningOf(waiting.workflowId)).toEqual({
      behavior: 'PINNED',
      buildId: BUILD_A,
      deploymentName: DEPLOYMENT,
    });

    // While the lease published on A is open, A is draining (not drained).
    const [again, unknown, text] = await after;
    expect(again.outcome).toBe('already current');
    expect([unknown.code, unknown.stdout, unknown.stderr.trim()]).toEqual([
      2,
      '',
      `lease-costs: no worker of build build-c has polled deployment ${DEPLOYMENT} within 0 s (its builds: ${BUILD_A}, ${BUILD_B}): is its service running, and is --build-id its TEMPORAL_WORKER_BUILD_ID?`,
    ]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe(`deployment ${DEPLOYMENT} in namespace default: new runs go to ${BUILD_B}`);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['BUILD', 'STATE', 'POLLING'],
      [BUILD_A, 'draining', 'yes'],
      [BUILD_B, 'current', 'yes'],
    ]);

    // A re-run of the lease published on A starts its new run on B (and is pinned there).
    const rerunHandle = stack.client.workflow.getHandle(workflowIdFor(rerunLease.uuid));
    const firstRun = (await rerunHandle.describe()).runId;
    await rerunHandle.signal('rerun', {});
    await statusWhen(rerunLease.uuid, (s) => s.phase === 'published' && s.currentVersion === 2, 'the re-run published');
    expect(new Set(buildsOf(await fetchHistory(stack.client, rerunHandle.workflowId, firstRun)))).toEqual(
      new Set([BUILD_A]),
    );
    expect(new Set(buildsOf(await fetchHistory(stack.client, rerunHandle.workflowId)))).toEqual(new Set([BUILD_B]));
    expect(await versioningOf(rerunHandle.workflowId)).toMatchObject({ behavior: 'PINNED', buildId: BUILD_B });
    await rerunHandle.terminate('test done');

    // The pacer (auto-upgrade) moved to B with its first task after the switch.
    expect(await versioningOf(pacerWorkflowIdOf(stack.config.TEMPORAL_TASK_QUEUE))).toMatchObject({
      behavior: 'AUTO_UPGRADE',
      buildId: BUILD_B,
    });

    // Nothing open on A any more: its workers may stop. The server's drainage count (what
    // `deployment status` reports) says so too.
    await listWhenSettled(
      stack.client,
      pinnedToA,
      (wf) => wf.workflowId,
      (ids) => ids.length === 0,
    );
    await waitFor(
      async () =>
        (await describeDeployment(stack.client, target()))?.versions.find((v) => v.buildId === BUILD_A)?.drained,
      30_000,
      'build A drained',
    );
  }, 120_000);
});
