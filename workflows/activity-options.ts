// The activity options of every workflow, as named presets: one per kind of work, each with the
// timeouts and retries that work needs. Workflows pass a preset to proxyActivities.
import type { ActivityOptions } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../src/domain/errors';
import { costExplorerQueueOf } from '../src/domain/task-queues';

/** The steps after collection share one backoff: quick at first, at most a minute apart. */
const STEP_RETRY = { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' } as const;

/**
 * One Cost Explorer page, on the pacer's task queue of the calling workflow's: the wait for a pacer
 * slot (about a second: each worker runs at most COST_EXPLORER_MAX_RPS pages at once) plus one
 * call under the client's 20 s request timeout, which is also how long a dead worker's page takes
 * to be retried elsewhere. Throttling and 5xx retry; the pacer, not the backoff, paces the normal case.
 * A function: the task queue is read inside the workflow.
 */
export const costExplorerPage = (): ActivityOptions => ({
  taskQueue: costExplorerQueueOf(workflowInfo().taskQueue),
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [ErrorType.CostExplorerAccessDenied, ErrorType.CostExplorerRequestInvalid],
  },
});

/**
 * One ISB lease lookup, with a scan of the lease list for the account's other leases (a few pages
 * of 2,000, as isbScan): an ISB API outage is waited out for two hours before the run fails.
 */
export const isbLookup: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '2 hours',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    nonRetryableErrorTypes: [
      ErrorType.LeaseNotFound,
      ErrorType.InvalidLease,
      ErrorType.LeaseMismatch,
      ErrorType.IsbRequestRejected,
    ],
  },
};

/** A scan of the ISB's whole lease list (a few pages of 2,000 leases), waited out like a lookup. */
export const isbScan: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '2 hours',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    nonRetryableErrorTypes: [ErrorType.IsbListRejected],
  },
};

/** One page of the ISB's lease list for the scheduled reconcile, which runs again soon if this one gives up. */
export const isbListPage: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '30 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    nonRetryableErrorTypes: [ErrorType.IsbListRejected],
  },
};

/** Starts a chunk of lease runs, heartbeating per start; each start is safe to repeat. */
export const startRuns: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  scheduleToCloseTimeout: '30 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * The lease's CSV, summary and FOCUS file from the staged pages. It heartbeats while it reads pages
 * and uploads: a killed worker's report moves on after the heartbeat timeout.
 */
export const reportWrite: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '6 hours',
  retry: STEP_RETRY,
};

/**
 * The HTML report: reads a summary of a few MB at most and renders it (about 0.1 s for 90 days of
 * 40 services). A missing or foreign summary fails at once (the activity throws it non-retryable).
 */
export const chartWrite: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '6 hours',
  retry: STEP_RETRY,
};

/** One PutEvents (with presigning for a lease report): quick, retried for hours while EventBridge is out. */
export const publish: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '6 hours',
  retry: STEP_RETRY,
};

/**
 * LeaseCostsFailed: the run has failed already, so an alert that cannot go out within the hour is
 * logged, not retried for ever.
 */
export const failureAlert: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 hour',
  retry: STEP_RETRY,
};

/** One report in the cost ledger: a PostgreSQL outage is waited out for a day; bad data (InvalidLedgerEntry) fails at once. */
export const ledgerWrite: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '24 hours',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes: [ErrorType.InvalidLedgerEntry],
  },
};

/** The month's group CSVs from the ledger: a ledger write's patience, with time for a month of leases. */
export const groupReportWrite: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  scheduleToCloseTimeout: '24 hours',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes: [ErrorType.InvalidLedgerEntry],
  },
};
