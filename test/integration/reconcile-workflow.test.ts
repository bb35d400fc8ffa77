// reconcileLeasesWorkflow's own logic on the time-skipping server, with in-memory activities
// (the listing and starting are tested against the real stack in reconcile.test.ts): the start
// rate's pauses, and continue-as-new every 50 pages with the totals carried over.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndedLease } from '../../src/domain/schemas';
import type { EndedLeasePage, ListEndedLeasesInput } from '../../activities/isb';
import type { StartRunsResult } from '../../activities/temporal';
import type { ReconcileResult } from '../../workflows/reconcile';
import { startTimeSkippingEnv, uniqueTaskQueue, workflowBundlePath } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkippingEnv();
}, 60_000);
afterAll(async () => env?.teardown());

const ended = (n: number): EndedLease[] =>
  Array.from({ length: n }, () => ({
    uuid: randomUUID(),
    userEmail: 'ada@example.gov.uk',
    accountId: '123456789012',
    endDate: new Date().toISOString(),
    status: 'Expired',
  }));

/** The ISB list as pages of `pageSize`, and a start that finds `existing` leases already run. */
function activities(leases: EndedLease[], existing = new Set<string>()) {
  const chunks: number[] = [];
  return {
    chunks,
    impl: {
      async listEndedLeases(input: ListEndedLeasesInput): Promise<EndedLeasePage> {
        const from = Number(input.pageIdentifier ?? 0);
        const size = input.pageSize!;
        const page = leases.slice(from, from + size);
        return {
          leases: page,
          scanned: page.length,
          unusable: [],
          invalidRecords: 0,
          nextPageIdentifier: from + size < leases.length ? String(from + size) : undefined,
        };
      },
      async startLeaseRuns(chunk: EndedLease[]): Promise<StartRunsResult> {
        chunks.push(chunk.length);
        const fresh = chunk.filter((l) => !existing.has(l.uuid));
        for (const l of fresh) existing.add(l.uuid);
        return { started: fresh.map((l) => l.uuid), existing: chunk.length - fresh.length, invalid: [] };
      },
    },
  };
}

async function runReconcile(
  acts: ReturnType<typeof activities>['impl'],
  args: { lookbackDays: number; pageSize: number; startRatePerMinute?: number },
) {
  const taskQueue = uniqueTaskQueue('reconcile-ts');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: workflowBundlePath() },
    activities: acts,
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start('reconcileLeasesWorkflow', {
      workflowId: `reconcile-${randomUUID()}`,
      taskQueue,
      args: [args],
    });
    const result = (await handle.result()) as ReconcileResult;
    const firstRun = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    return { result, firstRun };
  });
}

describe('reconcileLeasesWorkflow (time-skipping)', () => {
  it('starts at most the start rate a minute: a pause after each chunk that started runs', async () => {
    const acts = activities(ended(45));
    const { result, firstRun } = await runReconcile(acts.impl, {
      lookbackDays: 14,
      pageSize: 20,
      startRatePerMinute: 20,
    });
    expect(result).toMatchObject({ pages: 3, scanned: 45, found: 45, started: 45, existing: 0, invalid: 0 });
    expect(acts.chunks).toEqual([20, 20, 5]);
    const timers = firstRun
      .events!.filter((e) => e.timerStartedEventAttributes)
      .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
    expect(timers).toEqual([60, 60]); // before the 2nd and 3rd chunk; none after the last
  });

  it('does not pause when every lease already has a run, and continues as new every 50 pages with the totals', async () => {
    const leases = ended(55);
    const acts = activities(leases, new Set(leases.map((l) => l.uuid)));
    const { result, firstRun } = await runReconcile(acts.impl, { lookbackDays: 14, pageSize: 1 });
    expect(result).toMatchObject({ pages: 55, scanned: 55, found: 55, started: 0, existing: 55 });
    expect(result.summary).toContain('found 55 ended since');
    expect(firstRun.events!.some((e) => e.timerStartedEventAttributes)).toBe(false);
    expect(firstRun.events!.at(-1)!.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });
});
