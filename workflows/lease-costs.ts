import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  executeChild,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  setWorkflowOptions,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { computeBillingWindow, settleUntil, splitByResourceHorizon, utcDay } from '../src/domain/billing-window';
import { sharedDaysOf } from '../src/domain/shared-days';
import { DEFAULT_PADDING_HOURS, DEFAULT_RERUN_WINDOW_DAYS } from '../src/domain/defaults';
import { ErrorType } from '../src/domain/errors';
import type {
  DateRange,
  LeaseAttribution,
  LeaseCostsInput,
  LeaseCostsResult,
  LeasePhase,
  LeaseStatus,
  ReportRecord,
  RerunRequest,
} from '../src/domain/schemas';
import { describeTerminationReason } from '../src/domain/termination-reason';
import { AwsAccountIdKey, LeasePhaseKey, LeaseTotalCostKey, LeaseUuidKey } from '../src/domain/search-attributes';
import { chartWrite, failureAlert, isbLookup, ledgerWrite, publish, reportWrite } from './activity-options';
import { collectCostsWorkflow } from './collect-costs';
import { versioningBehavior } from './versioning';

export const collectNowSignal = defineSignal('collectNow');
export const rerunSignal = defineSignal<[RerunRequest?]>('rerun');
export const statusQuery = defineQuery<LeaseStatus>('status');

const REPORTS_KEPT_IN_STATUS = 10;

export type { LeaseCostsResult };

// One proxy per activity kind, with the options preset for its kind of work.
const { lookupLease } = proxyActivities<Activities>(isbLookup);
const { writeReport } = proxyActivities<Activities>(reportWrite);
const { writeChart } = proxyActivities<Activities>(chartWrite);
const { publishReport } = proxyActivities<Activities>(publish);
const { recordInLedger } = proxyActivities<Activities>(ledgerWrite);
const { publishFailure } = proxyActivities<Activities>(failureAlert);

// Pinned (Worker Versioning, docs/upgrade.md): a run waits days to settle and stays open weeks for
// re-runs, and finishes on the build that started it, so a deploy never replays it on changed code.
// A re-run's new run starts on the current build instead (see the continue-as-new below).
setWorkflowOptions(versioningBehavior('PINNED'), leaseCostsWorkflow);

export async function leaseCostsWorkflow(input: LeaseCostsInput): Promise<LeaseCostsResult> {
  // What this run reports on: the start input, until an operator's `rerun` corrects it.
  let request = {
    paddingHours: input.paddingHours ?? DEFAULT_PADDING_HOURS,
    terminatedAt: input.terminatedAt,
    terminatedAtFromOperator: input.terminatedAtFromOperator ?? false,
  };
  const version = input.nextReportVersion ?? 1;
  const status: LeaseStatus = {
    leaseUuid: input.leaseUuid,
    accountId: input.accountId,
    ...(input.terminationReason ? { terminationReason: input.terminationReason } : {}),
    phase: 'waiting',
    settleUntil: settleUntil(request.terminatedAt, request.paddingHours),
    paddingHours: request.paddingHours,
    currentVersion: version,
    pagesFetched: 0,
    reports: input.previousReports ?? [],
  };
  let collectNow = input.collectImmediately ?? false;
  let rerun: RerunRequest | undefined;
  setHandler(statusQuery, () => status);
  setHandler(collectNowSignal, () => void (collectNow = true));
  setHandler(rerunSignal, (args = {}) => {
    if (status.phase === 'waiting') {
      // Nothing published yet: a re-run is "collect now", with what the operator corrected.
      request = {
        paddingHours: args.paddingHours ?? request.paddingHours,
        terminatedAt: args.terminatedAt ?? request.terminatedAt,
        terminatedAtFromOperator: request.terminatedAtFromOperator || args.terminatedAt !== undefined,
      };
      status.paddingHours = request.paddingHours;
      collectNow = true;
    } else {
      rerun = args;
    }
  });

  // One upsert (one history event) per phase change, with the total once there is one.
  const setPhase = (phase: LeasePhase, totalCost?: number) => {
    status.phase = phase;
    upsertSearchAttributes([
      { key: LeasePhaseKey, value: phase },
      { key: LeaseUuidKey, value: input.leaseUuid },
      { key: AwsAccountIdKey, value: status.accountId },
      ...(totalCost === undefined ? [] : [{ key: LeaseTotalCostKey, value: totalCost }]),
    ]);
    setCurrentDetails(detailsOf(status));
  };

  setPhase('waiting');
  const wait = Date.parse(status.settleUntil) - Date.now();
  if (wait > 0 && !collectNow) {
    await condition(() => collectNow, wait, {
      summary: `Billing settle delay until ${status.settleUntil} (${request.paddingHours}h padding)`,
    });
  }

  let result: Omit<LeaseCostsResult, 'reports'>;
  try {
    result = await produceReport({ ...input, ...request }, version, status, setPhase);
  } catch (err) {
    if (isCancellation(err)) throw err;
    status.lastError = innermostFailure(err);
    setPhase('failed');
    // LeaseCostsFailed, once per failed run. A bus that refuses it must not mask the real failure.
    await publishFailure
      .executeWithOptions({ summary: `Emit LeaseCostsFailed (${status.lastError.type})` }, [
        {
          leaseUuid: input.leaseUuid,
          userEmail: input.userEmail,
          accountId: status.accountId,
          errorType: status.lastError.type,
          errorMessage: status.lastError.message,
        },
      ])
      .catch((publishErr: unknown) =>
        log.error('LeaseCostsFailed not emitted', { leaseUuid: input.leaseUuid, error: String(publishErr) }),
      );
    throw err;
  }

  const windowHours = input.rerunWindowHours ?? DEFAULT_RERUN_WINDOW_DAYS * 24;
  status.rerunOpenUntil = new Date(Date.now() + windowHours * 3600_000).toISOString();
  const rerunRequested = await condition(() => rerun !== undefined, windowHours * 3600_000, {
    summary: `Open for re-runs until ${status.rerunOpenUntil}`,
  });
  if (!rerunRequested) return { ...result, reports: status.reports };

  // Each report gets a run of its own: history stays bounded however many re-runs come. The new run
  // starts on the current build (then pins there): a re-run wants today's code, and the old build
  // can drain once its own runs end instead of every re-run extending its life by another window.
  return makeContinueAsNewFunc<typeof leaseCostsWorkflow>({ initialVersioningBehavior: 'AUTO_UPGRADE' })({
    ...input,
    paddingHours: rerun?.paddingHours ?? request.paddingHours,
    terminatedAt: rerun?.terminatedAt ?? request.terminatedAt,
    terminatedAtFromOperator: request.terminatedAtFromOperator || rerun?.terminatedAt !== undefined,
    nextReportVersion: version + 1,
    collectImmediately: true,
    previousReports: status.reports.slice(-REPORTS_KEPT_IN_STATUS),
    knownLease: status.lease ?? input.knownLease,
  });
}

async function produceReport(
  input: LeaseCostsInput & { paddingHours: number; terminatedAtFromOperator: boolean },
  version: number,
  status: LeaseStatus,
  setPhase: (p: LeasePhase, totalCost?: number) => void,
): Promise<Omit<LeaseCostsResult, 'reports'>> {
  setPhase('collecting');
  // The ISB API is the source of truth: a lease that disagrees with the event fails here. Once the
  // ISB has deleted the lease, the activity answers with what an earlier run looked up.
  // The account's other leases come with it, for the billing days they share. Histories recorded
  // before that have no `accountLeases` in the answer: those runs count no shared days, as they did.
  const { accountLeases, ...lease } = await lookupLease.executeWithOptions(
    { summary: `Look up lease ${input.leaseUuid} and its account's other leases in the ISB API` },
    [
      {
        leaseUuid: input.leaseUuid,
        userEmail: input.userEmail,
        accountId: input.accountId,
        withAccountLeases: true,
        ...(input.knownLease ? { known: input.knownLease } : {}),
      },
    ],
  );
  status.accountId = lease.accountId;
  status.lease = lease;
  // An operator's correction wins, then the ISB API's end of the lease, then the event's time.
  const leaseEnd = input.terminatedAtFromOperator ? input.terminatedAt : (lease.endDate ?? input.terminatedAt);
  let window: DateRange;
  try {
    window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd, paddingHours: input.paddingHours });
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `Cannot compute the billing window: ${(err as Error).message}`,
      ErrorType.InvalidBillingWindow,
    );
  }
  status.billingWindow = window;
  const attribution: LeaseAttribution = {
    ...(lease.costReportGroup !== undefined ? { costReportGroup: lease.costReportGroup } : {}),
    ...(lease.originalLeaseTemplateName !== undefined
      ? { originalLeaseTemplateName: lease.originalLeaseTemplateName }
      : {}),
    ...(lease.maxSpend !== undefined ? { maxSpend: lease.maxSpend } : {}),
    ...(lease.totalCostAccrued !== undefined ? { totalCostAccrued: lease.totalCostAccrued } : {}),
    ...(input.terminationReason ? { terminationReason: input.terminationReason.type } : {}),
  };
  const shared = sharedDaysOf(
    { uuid: lease.uuid, startDate: lease.startDate, endDate: leaseEnd, window },
    accountLeases ?? [],
    input.paddingHours,
    new Date().toISOString(),
  );
  if (shared.length > 0) attribution.sharedDays = shared;
  status.attribution = attribution;
  const split = splitByResourceHorizon(window, utcDay(new Date().toISOString()));
  log.info('Collecting costs', { leaseUuid: input.leaseUuid, version, window, split });

  const collection = await executeChild(collectCostsWorkflow, {
    workflowId: `lease-costs-${input.leaseUuid}-collect-v${version}`,
    args: [{ leaseUuid: input.leaseUuid, accountId: lease.accountId, version, ...split }],
    staticSummary: `Cost Explorer ${window.start} to ${window.end} (exclusive) for ${lease.accountId}`,
    typedSearchAttributes: [
      { key: LeaseUuidKey, value: input.leaseUuid },
      { key: AwsAccountIdKey, value: lease.accountId },
    ],
  });
  status.pagesFetched = collection.pages;

  setPhase('reporting');
  const report = await writeReport.executeWithOptions(
    { summary: `Write CSV v${version} to S3 with SHA-256 verification` },
    [
      {
        leaseUuid: input.leaseUuid,
        version,
        collection,
        accountId: lease.accountId,
        billingWindow: window,
        attribution,
      },
    ],
  );
  const chart = await writeChart.executeWithOptions(
    { summary: `Write the HTML report v${version} (chart, top resources) to S3` },
    [{ leaseUuid: input.leaseUuid, version, accountId: lease.accountId, billingWindow: window }],
  );
  const published = await publishReport.executeWithOptions(
    { summary: `Presign and emit LeaseCostsGenerated v${version}` },
    [
      {
        leaseUuid: input.leaseUuid,
        userEmail: lease.userEmail,
        accountId: lease.accountId,
        version,
        billingWindow: window,
        report,
        chartKey: chart.key,
        resourceLevel: collection.resourceLevel,
        attribution,
        ...(input.terminationReason ? { terminationReason: input.terminationReason } : {}),
      },
    ],
  );

  const record: ReportRecord = {
    version,
    bucket: report.bucket,
    key: report.key,
    chartKey: chart.key,
    ...(report.focusKey ? { focusKey: report.focusKey } : {}),
    total: report.total,
    checksumSha256: report.checksumSha256,
    rowCount: report.rowCount,
    urlExpiresAt: published.urlExpiresAt,
    resourceLevel: collection.resourceLevel,
    billingWindow: window,
    publishedAt: new Date().toISOString(),
    ...(report.costScope ? { costScope: report.costScope } : {}),
  };
  // Before the phase turns `published`, so whoever waits for it finds the version in the ledger.
  // The CSV and the event are out already: a ledger that fails for good is logged and leaves the
  // run published (a LeaseCostsFailed now would contradict the LeaseCostsGenerated just sent);
  // `lease-costs rerun` records a new version once the cause is fixed.
  await recordInLedger
    .executeWithOptions({ summary: `Record v${version} in the cost ledger` }, [
      {
        leaseUuid: input.leaseUuid,
        version,
        userEmail: lease.userEmail,
        accountId: lease.accountId,
        billingWindow: window,
        total: report.total,
        bucket: report.bucket,
        reportKey: report.key,
        publishedAt: record.publishedAt,
        attribution,
      },
    ])
    .catch((err: unknown) => {
      if (isCancellation(err)) throw err;
      const failure = innermostFailure(err);
      log.error('Report not recorded in the cost ledger', {
        leaseUuid: input.leaseUuid,
        version,
        errorType: failure.type,
        errorMessage: failure.message,
      });
    });
  status.reports = [...status.reports, record].slice(-REPORTS_KEPT_IN_STATUS);
  // A Double is what visibility can sort and filter on; the exact total stays in status and the event.
  setPhase('published', Number(report.total));
  const { key, checksumSha256, total, rowCount, resourceLevel, billingWindow } = record;
  return { version, key, checksumSha256, total, rowCount, resourceLevel, billingWindow };
}

/** The failure that names what went wrong, under the activity and child-workflow wrappers. */
function innermostFailure(err: unknown): NonNullable<LeaseStatus['lastError']> {
  let cause = err as Error & { type?: string };
  while (cause.cause && !cause.type) cause = cause.cause as Error & { type?: string };
  return { type: cause.type ?? cause.name, message: cause.message, at: new Date().toISOString() };
}

/** What Temporal UI shows at the top of the run. */
function detailsOf(s: LeaseStatus): string {
  const last = s.reports.at(-1);
  return [
    `**Phase:** ${s.phase} · **report version:** ${s.currentVersion} · **account:** ${s.accountId}`,
    s.terminationReason ? `**Ended:** ${describeTerminationReason(s.terminationReason)}` : undefined,
    s.phase === 'waiting' ? `Settles at ${s.settleUntil}` : undefined,
    s.billingWindow ? `Billing window ${s.billingWindow.start} to ${s.billingWindow.end} (exclusive)` : undefined,
    s.attribution?.costReportGroup ? `**Cost report group:** ${s.attribution.costReportGroup}` : undefined,
    ...(s.attribution?.sharedDays ?? []).map(
      (d) =>
        `Shares ${d.days.join(', ')} with lease ${d.leaseUuid} (counted here: ${d.countedHere.join(', ') || 'none'})`,
    ),
    last ? `**Total:** ${last.total} USD (v${last.version}) · \`${last.key}\`` : undefined,
    s.lastError ? `**Failed:** ${s.lastError.type}: ${s.lastError.message}` : undefined,
  ]
    .filter(Boolean)
    .join('\n\n');
}
