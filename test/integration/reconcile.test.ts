// Reconciliation and backfill: ISB leases that ended without a LeaseTerminated reaching us get a run,
// on the real stack (production worker, ISB fake with the paginated list, shared dev server).
import { randomUUID } from 'node:crypto';
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsbActivities } from '../../activities/isb';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { installReconcileSchedule, RECONCILE_SCHEDULE_ID } from '../../src/infrastructure/schedule-install';
import type { FakeLease } from '../../support/fakes/isb-api';
import type { ReconcileResult } from '../../workflows/reconcile';
import { LISTED_RUN_PRIORITY, LIVE_RUN_PRIORITY } from '../../src/domain/priority';
import { runCli } from '../helpers/cli';
import { awsEnvFor } from '../../support/aws';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const DAY = 24 * 3600_000;
let stack: Stack;
let secret: string;

beforeAll(async () => {
  stack = await startStack();
  secret = stack.isb.secret;
  await stack.startWorker();
});
afterAll(async () => {
  await stack.client.schedule
    .getHandle(RECONCILE_SCHEDULE_ID)
    .delete()
    .catch((err: unknown) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
  await stack?.stop();
});

const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
function addLease(status: string, endedDaysAgo?: number): FakeLease {
  const lease: FakeLease = {
    uuid: randomUUID(),
    userEmail: `user.${randomUUID().slice(0, 6)}@example.gov.uk`,
    accountId: '210987654321',
    startDate: iso(((endedDaysAgo ?? 0) + 3) * DAY),
    status,
    ...(endedDaysAgo === undefined ? {} : { endDate: iso(endedDaysAgo * DAY) }),
  };
  stack.isb.addLease(lease);
  return lease;
}
/** The run's task-queue priority key, as the server recorded it at start. */
const priorityKeyOf = async (uuid: string) =>
  (await stack.client.workflow.getHandle(workflowIdFor(uuid)).describe()).raw.workflowExecutionInfo?.priority
    ?.priorityKey;
const hasRun = async (uuid: string) =>
  stack.client.workflow
    .getHandle(workflowIdFor(uuid))
    .describe()
    .then(
      () => true,
      () => false,
    );

describe('ISB GET /leases, as the fake serves it and the activity reads it', () => {
  it('pages in key order with base64 page identifiers; a full last page still points at an empty one', async () => {
    const isb = createIsbActivities({ baseUrl: stack.isb.endpoint, loadSecret: async () => secret });
    stack.isb.clear();
    const ended = [
      addLease('Expired', 1),
      addLease('BudgetExceeded', 2),
      addLease('ManuallyTerminated', 3),
      addLease('Ejected', 20),
    ];
    addLease('Active');
    addLease('PendingApproval');
    const seen: string[] = [];
    let pageIdentifier: string | undefined;
    let pages = 0;
    let scanned = 0;
    do {
      const page = await isb.listEndedLeases({ pageIdentifier, endedAfter: iso(14 * DAY), pageSize: 2 });
      pages += 1;
      scanned += page.scanned;
      seen.push(...page.leases.map((l) => l.uuid));
      expect(page.unusable).toEqual([]);
      pageIdentifier = page.nextPageIdentifier;
    } while (pageIdentifier);
    expect(pages).toBe(4); // 2 + 2 + 2 leases, then the empty page DynamoDB answers after a full one
    expect(scanned).toBe(6);
    expect(new Set(seen)).toEqual(new Set(ended.slice(0, 3).map((l) => l.uuid))); // the 20-day-old one is out of range
    const listCalls = stack.isb.calls.filter((c) => c.path === '/leases');
    expect(listCalls.map((c) => c.query?.pageSize)).toEqual(['2', '2', '2', '2']);
    expect(listCalls.slice(1).every((c) => typeof c.query?.pageIdentifier === 'string')).toBe(true);
  });

  it('rejects a page size the ISB rejects (1..2000) with a non-retryable failure', async () => {
    const isb = createIsbActivities({ baseUrl: stack.isb.endpoint, loadSecret: async () => secret });
    await expect(isb.listEndedLeases({ endedAfter: iso(DAY), pageSize: 2001 })).rejects.toMatchObject({
      type: 'IsbListRejected',
      nonRetryable: true,
    });
  });
});

describe('reconcileLeasesWorkflow', () => {
  it('starts a run for each ended lease in the look-back that has none, and leaves the rest alone', async () => {
    stack.isb.clear();
    const missed = [addLease('Expired', 2), addLease('AccountQuarantined', 5)];
    const alreadyRun = addLease('BudgetExceeded', 1);
    const tooOld = addLease('Expired', 30);
    const active = addLease('Active');
    const pending = addLease('PendingApproval');
    // A run that already exists (as the webhook would have started it), closed by the time we look.
    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: alreadyRun.uuid,
      userEmail: alreadyRun.userEmail,
      accountId: alreadyRun.accountId,
      terminatedAt: alreadyRun.endDate!,
    });
    await stack.client.workflow.getHandle(workflowIdFor(alreadyRun.uuid)).terminate('closed before reconciliation');

    const run = (workflowId: string) =>
      stack.client.workflow.execute('reconcileLeasesWorkflow', {
        workflowId,
        taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
        args: [{ lookbackDays: 14, pageSize: 2, startRatePerMinute: 600 }],
      }) as Promise<ReconcileResult>;
    const first = await run(`reconcile-${randomUUID()}`);
    expect(first).toMatchObject({ pages: 4, scanned: 6, found: 3, started: 2, existing: 1, invalid: 0 });
    expect(first.summary).toMatch(
      /^found 3 ended since \d{4}-\d{2}-\d{2}, 2 started, 1 already had a run \(6 leases scanned\)$/,
    );
    for (const l of missed) {
      const d = await stack.client.workflow.getHandle(workflowIdFor(l.uuid)).describe();
      expect(d.type).toBe('leaseCostsWorkflow');
      expect(d.memo).toMatchObject({ leaseUuid: l.uuid, accountId: l.accountId });
      // Catch-up from the lease list goes after every live lease.
      expect(await priorityKeyOf(l.uuid)).toBe(LISTED_RUN_PRIORITY);
    }
    expect(await priorityKeyOf(alreadyRun.uuid)).toBe(LIVE_RUN_PRIORITY);
    // The closed run stays closed: REJECT_DUPLICATE counts it as existing.
    expect((await stack.client.workflow.getHandle(workflowIdFor(alreadyRun.uuid)).describe()).status.name).toBe(
      'TERMINATED',
    );
    for (const l of [tooOld, active, pending]) expect(await hasRun(l.uuid)).toBe(false);

    const second = await run(`reconcile-${randomUUID()}`);
    expect(second).toMatchObject({ found: 3, started: 0, existing: 3 });
  });

  it('is installed idempotently as the lease-costs-reconcile schedule, whose triggered run reports what it found', async () => {
    const first = await installReconcileSchedule(stack.client, stack.config);
    const again = await installReconcileSchedule(
      stack.client,
      { ...stack.config, RECONCILE_INTERVAL_MINUTES: 30 },
      { trigger: true },
    );
    expect([first.outcome, again.outcome]).toEqual(['created', 'updated']);
    const handle = stack.client.schedule.getHandle(RECONCILE_SCHEDULE_ID);
    const described = await handle.describe();
    expect(described.spec.intervals?.map((i) => i.every)).toEqual([30 * 60_000]);
    expect(described.state.note).toContain('Every 30 min');
    expect(described.memo?.description).toContain('lease-costs reconciliation');
    const action = await waitFor(
      async () => (await handle.describe()).info.recentActions.at(-1),
      20_000,
      'a triggered run',
    );
    const result = (await stack.client.workflow
      .getHandle(action.action.workflow.workflowId)
      .result()) as ReconcileResult;
    expect(result.started).toBe(0); // every ended lease already has its run from the test before
    expect(result.existing).toBe(result.found);
  });
});

describe('lease-costs backfill', () => {
  it('lists what it would start in a dry run, then starts exactly those', async () => {
    stack.isb.clear();
    const old = [addLease('Expired', 40), addLease('Ejected', 45)];
    addLease('Expired', 70); // before --since
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY).toISOString().slice(0, 10);
    const env = {
      ...awsEnvFor(stack.motoEndpoint),
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
      ISB_API_BASE_URL: stack.isb.endpoint,
      ISB_JWT_SECRET_PATH: stack.config.ISB_JWT_SECRET_PATH!,
    };
    const dry = await runCli(['backfill', '--since', day(60), '--until', day(30), '--dry-run'], env);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const wouldStart = dry.stdout
      .split('\n')
      .filter((l) => l.startsWith('would start'))
      .map((l) => l.split(' ')[2]);
    expect(new Set(wouldStart)).toEqual(new Set(old.map((l) => l.uuid)));
    expect(dry.stdout).toMatch(/2 ended leases, 2 would be started, 0 already had a run/);
    for (const l of old) expect(await hasRun(l.uuid)).toBe(false);

    const real = await runCli(['backfill', '--since', day(60), '--until', day(30), '--rate', '600'], env);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/2 ended leases, 2 started, 0 already had a run/);
    for (const l of old) expect(await hasRun(l.uuid)).toBe(true);
    for (const l of old) expect(await priorityKeyOf(l.uuid)).toBe(LISTED_RUN_PRIORITY);
    const again = await runCli(['backfill', '--since', day(60), '--until', day(30)], env);
    expect(again.stdout).toMatch(/2 ended leases, 0 started, 2 already had a run/);
  });

  it('refuses a range that ends before it starts, with exit code 2', async () => {
    const res = await runCli(['backfill', '--since', '2026-02-01', '--until', '2026-01-01'], {
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      ISB_API_BASE_URL: stack.isb.endpoint,
      ISB_JWT_SECRET: 'y'.repeat(16),
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--until 2026-01-01 is before --since 2026-02-01');
  });
});
