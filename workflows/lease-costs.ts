import {
  ApplicationFailure, condition, continueAsNew, defineQuery, defineSignal, executeChild, isCancellation, log,
  patched, proxyActivities, setHandler, upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { computeBillingWindow, settleUntil, splitByResourceHorizon, utcDay } from '../src/domain/billing-window';
import type { DateRange, LeaseCostsInput, LeasePhase, LeaseStatus, ReportRecord } from '../src/domain/schemas';
import { AwsAccountIdKey, LeasePhaseKey, LeaseTotalCostKey, LeaseUuidKey } from '../src/domain/search-attributes';
import { collectCostsWorkflow } from './collect-costs';

/** Collection moved from one long activity to a child workflow of rate-limited page activities. */
export const RATE_LIMITED_COLLECTION_PATCH = 'rate-limited-collection';

export const collectNowSignal = defineSignal('collectNow');
export const rerunSignal = defineSignal<[{ paddingHours?: number }?]>('rerun');
export const statusQuery = defineQuery<LeaseStatus>('status');

export const DEFAULT_PADDING_HOURS = 8;
export const DEFAULT_RERUN_WINDOW_HOURS = 30 * 24;
const REPORTS_KEPT_IN_STATUS = 10;

export interface LeaseCostsResult {
  reportVersion: number;
  s3Key: string;
  checksumSha256: string;
  totalCost: string;
  rowCount: number;
  resourceLevel: string;
  billingWindow: DateRange;
  /** The most recent reports, so a later run started by `lease-costs rerun` can keep showing them. */
  reports: ReportRecord[];
}

const { lookupLease } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '2 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', nonRetryableErrorTypes: ['LeaseNotFound', 'InvalidLease'] },
});
const { collectCosts } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  scheduleToCloseTimeout: '12 hours',
  // Throttling lands here: back off and resume from the last heartbeat. Attempts accumulate over a
  // long collection, so the interval is capped low: Cost Explorer's limit is per second.
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', nonRetryableErrorTypes: ['CostExplorerAccessDenied', 'CostExplorerRequestInvalid'] },
});
const { writeReport, publishReport, publishFailure } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  // A killed worker's report is retried elsewhere after this, not after the full 10 minutes.
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '6 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function leaseCostsWorkflow(input: LeaseCostsInput): Promise<LeaseCostsResult> {
  let paddingHours = input.paddingHours ?? DEFAULT_PADDING_HOURS;
  const version = input.nextReportVersion ?? 1;
  const status: LeaseStatus = {
    leaseUuid: input.leaseUuid,
    accountId: input.accountId,
    phase: 'waiting',
    settleUntil: settleUntil(input.terminatedAt, paddingHours),
    paddingHours,
    currentVersion: version,
    pagesFetched: 0,
    reports: input.previousReports ?? [],
  };
  let collectNow = input.collectImmediately ?? false;
  let rerun: { paddingHours?: number } | undefined;
  setHandler(statusQuery, () => status);
  setHandler(collectNowSignal, () => void (collectNow = true));
  setHandler(rerunSignal, (args) => {
    if (status.phase === 'waiting') {
      // Nothing published yet: a re-run is simply "collect now", with the new padding if given.
      paddingHours = args?.paddingHours ?? paddingHours;
      status.paddingHours = paddingHours;
      collectNow = true;
    } else {
      rerun = { paddingHours: args?.paddingHours };
    }
  });

  const setPhase = (phase: LeasePhase) => {
    status.phase = phase;
    upsertSearchAttributes([
      { key: LeasePhaseKey, value: phase },
      { key: LeaseUuidKey, value: input.leaseUuid },
      { key: AwsAccountIdKey, value: input.accountId },
    ]);
  };

  setPhase('waiting');
  const wait = Date.parse(status.settleUntil) - Date.now();
  if (wait > 0 && !collectNow) {
    await condition(() => collectNow, wait, { summary: `Billing settle delay until ${status.settleUntil} (${paddingHours}h padding)` });
  }

  let result: Omit<LeaseCostsResult, 'reports'>;
  try {
    result = await produceReport(input, version, paddingHours, status, setPhase);
  } catch (err) {
    if (isCancellation(err)) throw err;
    // The innermost failure names what went wrong, through activity and child-workflow wrappers.
    let cause = err as Error & { type?: string };
    while (cause.cause && !cause.type) cause = cause.cause as Error & { type?: string };
    status.lastError = { type: cause.type ?? cause.name, message: cause.message, at: new Date().toISOString() };
    setPhase('failed');
    // Issue 13: LeaseCostsFailed, once per failed run. A bus that refuses it must not mask the real failure.
    await publishFailure.executeWithOptions(
      { startToCloseTimeout: '1 minute', scheduleToCloseTimeout: '1 hour', summary: `Emit LeaseCostsFailed (${status.lastError.type})` },
      [{ leaseUuid: input.leaseUuid, userEmail: input.userEmail, accountId: input.accountId, errorType: status.lastError.type, errorMessage: status.lastError.message }],
    ).catch((publishErr: unknown) => log.error('LeaseCostsFailed not emitted', { leaseUuid: input.leaseUuid, error: String(publishErr) }));
    throw err;
  }

  const windowHours = input.rerunWindowHours ?? DEFAULT_RERUN_WINDOW_HOURS;
  status.rerunOpenUntil = new Date(Date.now() + windowHours * 3600_000).toISOString();
  const rerunRequested = await condition(() => rerun !== undefined, windowHours * 3600_000, {
    summary: `Open for re-runs until ${status.rerunOpenUntil}`,
  });
  if (!rerunRequested) return { ...result, reports: status.reports };

  // Each report gets a run of its own: history stays bounded however many re-runs come.
  return continueAsNew<typeof leaseCostsWorkflow>({
    ...input,
    paddingHours: rerun?.paddingHours ?? paddingHours,
    nextReportVersion: version + 1,
    collectImmediately: true,
    previousReports: status.reports.slice(-REPORTS_KEPT_IN_STATUS),
  });
}

async function produceReport(
  input: LeaseCostsInput, version: number, paddingHours: number, status: LeaseStatus, setPhase: (p: LeasePhase) => void,
): Promise<Omit<LeaseCostsResult, 'reports'>> {
  setPhase('collecting');
  const lease = await lookupLease.executeWithOptions(
    { startToCloseTimeout: '30 seconds', summary: `Look up lease ${input.leaseUuid} in the ISB API` },
    [{ leaseUuid: input.leaseUuid, userEmail: input.userEmail }],
  );
  let window: DateRange;
  try {
    window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd: input.terminatedAt, paddingHours });
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`Cannot compute the billing window: ${(err as Error).message}`, 'InvalidBillingWindow');
  }
  status.billingWindow = window;
  const split = splitByResourceHorizon(window, utcDay(new Date().toISOString()));
  log.info('Collecting costs', { leaseUuid: input.leaseUuid, version, window, split });

  const collectionInput = { leaseUuid: input.leaseUuid, accountId: input.accountId, version, resourceLevel: split.resourceLevel, serviceLevel: split.serviceLevel };
  const summary = `Cost Explorer ${window.start} to ${window.end} (exclusive) for ${input.accountId}`;
  const collection = patched(RATE_LIMITED_COLLECTION_PATCH)
    ? await executeChild(collectCostsWorkflow, {
      workflowId: `lease-costs-${input.leaseUuid}-collect-v${version}`,
      args: [collectionInput],
      staticSummary: summary,
      memo: { leaseUuid: input.leaseUuid, accountId: input.accountId },
    })
    : await collectCosts.executeWithOptions({ startToCloseTimeout: '30 minutes', summary }, [collectionInput]);
  status.pagesFetched = collection.pages;

  setPhase('reporting');
  const report = await writeReport.executeWithOptions(
    { startToCloseTimeout: '10 minutes', summary: `Write CSV v${version} to S3 with SHA-256 verification` },
    [{ leaseUuid: input.leaseUuid, version, collection }],
  );
  const published = await publishReport.executeWithOptions(
    { startToCloseTimeout: '1 minute', summary: `Presign and emit LeaseCostsGenerated v${version}` },
    [{
      leaseUuid: input.leaseUuid, userEmail: input.userEmail, accountId: input.accountId, version,
      billingWindow: window, report, resourceLevel: collection.resourceLevel,
    }],
  );

  const record: ReportRecord = {
    version, key: report.key, total: report.total, checksumSha256: report.checksumSha256, rowCount: report.rowCount,
    urlExpiresAt: published.urlExpiresAt, resourceLevel: collection.resourceLevel, billingWindow: window,
    publishedAt: new Date().toISOString(),
  };
  status.reports = [...status.reports, record].slice(-REPORTS_KEPT_IN_STATUS);
  setPhase('published');
  // A Double is what visibility can sort and filter on; the exact total stays in status and the event.
  upsertSearchAttributes([{ key: LeaseTotalCostKey, value: Number(report.total) }]);
  return {
    reportVersion: version, s3Key: report.key, checksumSha256: report.checksumSha256, totalCost: report.total,
    rowCount: report.rowCount, resourceLevel: collection.resourceLevel, billingWindow: window,
  };
}
