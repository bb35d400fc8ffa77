// The lease workflow's process on the time-skipping test server, with stub activities: timers of
// hours and days pass in milliseconds, so each case checks the timing rules themselves.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { CollectionInput } from '../../src/domain/collection';
import { ErrorType } from '../../src/domain/errors';
import type { LeaseCostsInput, LeaseStatus, TerminationReason } from '../../src/domain/schemas';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { costExplorerQueueOf } from '../../src/domain/task-queues';
import { workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseCostsResult } from '../../workflows';
import { startTimeSkippingEnv, uniqueTaskQueue, workflowBundlePath } from '../helpers/temporal';

const HOUR = 3600_000;
const ACCOUNT = '123456789012';

let env: TestWorkflowEnvironment;
let workers: Worker[] = [];
let running: Promise<void>[] = [];
/** The file's task queue: one main and one Cost Explorer worker serve every case. */
let taskQueue: string;
/** The running case's stubs, which the workers' activities read and switch on. */
let current: Stubs;

beforeAll(async () => {
  env = await startTimeSkippingEnv();
  // The test server refuses upserts of search attributes it does not know.
  const type = {
    Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    Double: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  };
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, t]) => [name, type[t]])),
  });
  taskQueue = await startWorkers();
}, 60_000);
// Time skipping is global, and pauses while any workflow task waits: a run left open would stop
// the clock for the next case.
const started: WorkflowHandle[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((h) => h.terminate('test done').catch(() => undefined)));
});
afterAll(async () => {
  for (const w of workers) w.shutdown();
  await Promise.all(running);
  await env?.teardown();
});

/** What the stubs saw, and switches to make them fail or hold. */
interface Stubs {
  lookups: number;
  /** What each lookup was asked. */
  lookupInputs: Parameters<Activities['lookupLease']>[0][];
  collections: CollectionInput[];
  published: number[];
  /** The terminationReason each publishReport was given. */
  reasons: (TerminationReason | undefined)[];
  chartKeys: string[];
  charts: number;
  chartError?: ApplicationFailure;
  /** What the ledger was asked to record, in order, and a failure it answers with. */
  ledger: Parameters<Activities['recordInLedger']>[0][];
  ledgerError?: ApplicationFailure;
  steps: string[];
  lookupError?: ApplicationFailure;
  /** The LeaseCostsFailed events the run asked for. */
  failures: Parameters<Activities['publishFailure']>[0][];
  leaseEnd?: string;
  /** While set, collection waits for it. */
  hold?: Promise<void>;
}

/**
 * Starts a main and a Cost Explorer worker on a fresh task queue, their stub activities reading
 * the running case's stubs (useStubs): creating workers for each case cost most of its time.
 */
async function startWorkers(): Promise<string> {
  const taskQueue = uniqueTaskQueue('wf');
  // Every activity the lease workflow calls: one left out would be retried for an hour, not fail the test.
  const activities: Pick<
    Activities,
    'lookupLease' | 'writeReport' | 'writeChart' | 'publishReport' | 'recordInLedger' | 'publishFailure'
  > = {
    async lookupLease(input) {
      current.lookups++;
      current.lookupInputs.push(input);
      if (current.lookupError) throw current.lookupError;
      return {
        uuid: input.leaseUuid,
        userEmail: input.userEmail,
        accountId: input.accountId,
        startDate: '2026-01-01T10:00:00Z',
        endDate: current.leaseEnd,
        status: 'Expired',
        costReportGroup: 'research',
      };
    },
    async writeReport({ leaseUuid, version }) {
      return {
        bucket: 'b',
        key: `r/${leaseUuid}-v${version}.csv`,
        checksumSha256: 'c2hh',
        rowCount: 1,
        total: '1.25',
        bytes: 10,
        summaryKey: `r/${leaseUuid}-v${version}.summary.json`,
      };
    },
    async writeChart({ leaseUuid, version }) {
      current.charts++;
      if (current.chartError) throw current.chartError;
      return { bucket: 'b', key: `r/${leaseUuid}-v${version}.html`, bytes: 10 };
    },
    async publishReport({ version, chartKey, terminationReason }) {
      current.published.push(version);
      current.reasons.push(terminationReason);
      current.chartKeys.push(chartKey);
      current.steps.push(`publish v${version}`);
      return { eventId: randomUUID(), urlExpiresAt: new Date(Date.now() + 7 * 24 * HOUR).toISOString() };
    },
    async recordInLedger(entry) {
      current.ledger.push(entry);
      current.steps.push(`ledger v${entry.version}`);
      if (current.ledgerError) throw current.ledgerError;
      return { outcome: 'recorded', dailyRows: 1 };
    },
    async publishFailure(input) {
      current.failures.push(input);
      return { eventId: randomUUID() };
    },
  };
  const ceActivities: Partial<Activities> = {
    async collectCostsPage(input) {
      current.collections.push(input);
      await current.hold;
      return { done: true, result: { stagingPrefix: 's/', segments: [], pages: 1, calls: 1, resourceLevel: 'used' } };
    },
  };
  const base = { connection: env.nativeConnection, workflowBundle: { codePath: workflowBundlePath() } };
  workers = [
    await Worker.create({ ...base, taskQueue, activities }),
    await Worker.create({ ...base, taskQueue: costExplorerQueueOf(taskQueue), activities: ceActivities }),
  ];
  running = workers.map((w) => w.run());
  return taskQueue;
}

/** Makes the workers' activities answer from `stubs` for this case; returns the task queue. */
function useStubs(stubs: Stubs): string {
  current = stubs;
  return taskQueue;
}

const newStubs = (): Stubs => ({
  lookups: 0,
  lookupInputs: [],
  collections: [],
  published: [],
  reasons: [],
  chartKeys: [],
  charts: 0,
  ledger: [],
  steps: [],
  failures: [],
});

async function start(taskQueue: string, overrides: Partial<LeaseCostsInput> = {}): Promise<WorkflowHandle> {
  const now = await env.currentTimeMs();
  const input: LeaseCostsInput = {
    leaseUuid: randomUUID(),
    userEmail: 'ada@example.gov.uk',
    accountId: ACCOUNT,
    terminatedAt: new Date(now).toISOString(),
    paddingHours: 8,
    rerunWindowHours: 24,
    ...overrides,
  };
  const handle = await env.client.workflow.start('leaseCostsWorkflow', {
    taskQueue,
    workflowId: workflowIdFor(input.leaseUuid),
    args: [input],
  });
  started.push(handle);
  return handle;
}

const status = (h: WorkflowHandle) => h.query<LeaseStatus>('status');

/** Skips time in small steps until `check` holds (activities run in real time between the steps). */
async function until<T>(check: () => Promise<T | undefined>, step = 60_000): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await env.sleep(step);
  }
  throw new Error('condition never held');
}
const phase = (h: WorkflowHandle, p: LeaseStatus['phase'], version?: number) =>
  until(async () => {
    const s = await status(h);
    return s.phase === p && (version === undefined || s.reports.at(-1)?.version === version) ? s : undefined;
  });

describe('lease workflow timing (time-skipping)', () => {
  it('sleeps through the settle delay counted from the termination, then collects once', async () => {
    const stubs = newStubs();
    const h = await start(useStubs(stubs));
    expect((await status(h)).phase).toBe('waiting');
    await env.sleep(7 * HOUR + 50 * 60_000);
    expect((await status(h)).phase).toBe('waiting');
    expect(stubs.lookups).toBe(0);
    const published = await phase(h, 'published');
    expect(stubs.lookups).toBe(1);
    expect(published.reports.map((r) => r.version)).toEqual([1]);
    // The billing window: lease start and end widened by the padding, to whole UTC days.
    expect(stubs.collections).toHaveLength(1);
  });

  it('records each published version in the ledger before the phase turns published', async () => {
    const stubs = newStubs();
    const h = await start(useStubs(stubs), {
      paddingHours: 0,
      terminationReason: { type: 'Expired', leaseDurationInHours: 24 },
    });
    const s = await phase(h, 'published', 1);
    const report = s.reports.at(-1)!;
    expect(stubs.ledger).toEqual([
      {
        leaseUuid: s.leaseUuid,
        version: 1,
        userEmail: 'ada@example.gov.uk',
        accountId: ACCOUNT,
        billingWindow: s.billingWindow,
        total: report.total,
        bucket: report.bucket,
        reportKey: report.key,
        publishedAt: report.publishedAt,
        // What the ISB said of the lease, and the event's reason, travel with the entry.
        attribution: { costReportGroup: 'research', terminationReason: 'Expired' },
      },
    ]);
    await h.signal('rerun', {});
    // Polled through the stubs: the test server holds a query that lands mid continue-as-new.
    await until(async () => (stubs.ledger.length === 2 ? true : undefined), 1_000);
    // The ledger records only what went out.
    expect(stubs.steps).toEqual(['publish v1', 'ledger v1', 'publish v2', 'ledger v2']);
    // The next run gets the lease as this one looked it up, for when the ISB has deleted it (leases.ttl).
    expect(stubs.lookupInputs[0]!.known).toBeUndefined();
    expect(stubs.lookupInputs[1]!.known).toEqual({
      uuid: s.leaseUuid,
      userEmail: 'ada@example.gov.uk',
      accountId: ACCOUNT,
      startDate: '2026-01-01T10:00:00Z',
      status: 'Expired',
      costReportGroup: 'research',
    });
  });

  it('a ledger that refuses the report (bad data, not retried) leaves the run published', async () => {
    const stubs = newStubs();
    stubs.ledgerError = ApplicationFailure.nonRetryable('summary does not add up', ErrorType.InvalidLedgerEntry);
    const h = await start(useStubs(stubs), { paddingHours: 0 });
    const s = await phase(h, 'published', 1);
    expect(stubs.ledger).toHaveLength(1);
    expect(stubs.published).toEqual([1]);
    expect(s.lastError).toBeUndefined();
  });

  it('collectNow skips the rest of the delay', async () => {
    const stubs = newStubs();
    const h = await start(useStubs(stubs), { paddingHours: 100 });
    await h.signal('collectNow');
    await phase(h, 'published', 1);
    expect(stubs.lookups).toBe(1);
  });

  it('rerun while waiting collects now, with the new padding and termination time', async () => {
    const stubs = newStubs();
    stubs.leaseEnd = '2026-01-05T12:00:00Z';
    const h = await start(useStubs(stubs), { paddingHours: 100 });
    await h.signal('rerun', { paddingHours: 0, terminatedAt: '2026-01-03T12:00:00Z' });
    const s = await phase(h, 'published', 1);
    expect(s.paddingHours).toBe(0);
    // The operator's time wins over the ISB API's end date.
    expect(s.billingWindow).toEqual({ start: '2026-01-01', end: '2026-01-04' });
  });

  it("takes the lease's end from the ISB API over the event's time", async () => {
    const stubs = newStubs();
    stubs.leaseEnd = '2026-01-05T12:00:00Z';
    const h = await start(useStubs(stubs), { paddingHours: 0, terminatedAt: '2026-01-09T12:00:00Z' });
    const s = await phase(h, 'published', 1);
    expect(s.billingWindow).toEqual({ start: '2026-01-01', end: '2026-01-06' });
  });

  it('rerun during collection publishes v1, then v2 in a new run', async () => {
    const stubs = newStubs();
    let release!: () => void;
    stubs.hold = new Promise((r) => {
      release = r;
    });
    const h = await start(useStubs(stubs), { paddingHours: 0 });
    await until(async () => (stubs.collections.length > 0 ? true : undefined), 1_000);
    expect((await status(h)).phase).toBe('collecting');
    await h.signal('rerun', {});
    release();
    const s = await phase(h, 'published', 2);
    expect(s.reports.map((r) => r.version)).toEqual([1, 2]);
    expect(stubs.published).toEqual([1, 2]);
    // Each version publishes its own HTML report, and its status records where it is.
    expect(stubs.chartKeys).toEqual([`r/${s.leaseUuid}-v1.html`, `r/${s.leaseUuid}-v2.html`]);
    expect(s.reports.map((r) => r.chartKey)).toEqual(stubs.chartKeys);
    const { runId } = await h.describe();
    expect(runId).not.toBe((h as WorkflowHandle & { firstExecutionRunId: string }).firstExecutionRunId);
  });

  it('rerun after publishing gives v2 and carries the last 10 reports over continue-as-new', async () => {
    const stubs = newStubs();
    const h = await start(useStubs(stubs), { paddingHours: 0 });
    await phase(h, 'published', 1);
    for (let v = 2; v <= 12; v++) {
      await h.signal('rerun', {});
      // Polled through the stubs: the test server holds a query that lands mid continue-as-new.
      await until(async () => (stubs.published.length === v ? true : undefined), 1_000);
    }
    await env.sleep(60_000);
    const s = await status(h);
    expect(s.reports.map((r) => r.version)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(s.currentVersion).toBe(12);
    // Each report is a run of its own: every run's history stays small.
    let runId: string | undefined = (h as WorkflowHandle & { firstExecutionRunId: string }).firstExecutionRunId;
    let runs = 0;
    while (runId) {
      const events: temporal.api.history.v1.IHistoryEvent[] = (
        await env.client.workflow.getHandle(h.workflowId, runId).fetchHistory()
      ).events!;
      expect(events.length).toBeLessThan(200);
      runs++;
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    expect(runs).toBe(12);
  });

  it('carries the termination reason into status, the UI summary and publishReport, across a re-run', async () => {
    const stubs = newStubs();
    const reason: TerminationReason = { type: 'BudgetExceeded', budget: 50, totalSpend: 50.37 };
    const h = await start(useStubs(stubs), { paddingHours: 0, terminationReason: reason });
    await phase(h, 'published', 1);
    expect((await status(h)).terminationReason).toEqual(reason);
    const { currentDetails } = await h.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(currentDetails).toContain('**Ended:** BudgetExceeded (spent 50.37 USD of a 50 USD budget)');
    await h.signal('rerun', {});
    await until(async () => (stubs.published.length === 2 ? true : undefined), 1_000);
    expect(stubs.reasons).toEqual([reason, reason]);
    expect((await status(h)).terminationReason).toEqual(reason);
  });

  it('closes when the re-run window ends, returning the report', async () => {
    const stubs = newStubs();
    const h = await start(useStubs(stubs), { paddingHours: 0, rerunWindowHours: 30 * 24 });
    await phase(h, 'published', 1);
    const t0 = await env.currentTimeMs();
    const result = (await h.result()) as LeaseCostsResult;
    expect((await env.currentTimeMs()) - t0).toBeGreaterThanOrEqual(30 * 24 * HOUR - 60_000);
    expect(result).toMatchObject({ version: 1, total: '1.25', reports: [{ version: 1 }] });
    // `lease-costs rerun` of a closed run carries this lease into the new run: it reads it from the
    // closed run's status (a replay), so the result stays small.
    expect((await h.query<LeaseStatus>('status')).lease).toMatchObject({
      accountId: ACCOUNT,
      startDate: '2026-01-01T10:00:00Z',
    });
    expect(stubs.published).toEqual([1]);
  });

  it('fails at the first attempt when the report summary is missing, and publishes nothing', async () => {
    const stubs = newStubs();
    stubs.chartError = ApplicationFailure.nonRetryable('stub: no summary', ErrorType.InvalidReportSummary);
    const h = await start(useStubs(stubs), { paddingHours: 0 });
    expect(await h.result().catch((e: unknown) => e)).toBeInstanceOf(WorkflowFailedError);
    expect(stubs.charts).toBe(1);
    expect(stubs.published).toEqual([]);
    expect((await status(h)).lastError).toMatchObject({ type: ErrorType.InvalidReportSummary });
    expect(stubs.failures).toMatchObject([
      { errorType: ErrorType.InvalidReportSummary, errorMessage: 'stub: no summary' },
    ]);
  });

  it.each([ErrorType.LeaseNotFound, ErrorType.LeaseMismatch])(
    'fails for good on %s: status says so, nothing is collected or published',
    async (type) => {
      const stubs = newStubs();
      stubs.lookupError = ApplicationFailure.nonRetryable(`stub ${type}`, type);
      const h = await start(useStubs(stubs), { paddingHours: 0 });
      const err = await h.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(stubs.lookups).toBe(1);
      expect(stubs.collections).toEqual([]);
      expect(stubs.published).toEqual([]);
      const s = await status(h);
      expect(s.phase).toBe('failed');
      expect(s.lastError).toMatchObject({ type, message: `stub ${type}` });
      expect(stubs.failures).toEqual([
        {
          leaseUuid: expect.any(String),
          userEmail: 'ada@example.gov.uk',
          accountId: ACCOUNT,
          errorType: type,
          errorMessage: `stub ${type}`,
        },
      ]);
    },
  );
});
