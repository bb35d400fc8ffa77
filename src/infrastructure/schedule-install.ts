import { ScheduleAlreadyRunning, type Client, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { Config } from './config';
import type { reconcileLeasesWorkflow } from '../../workflows/reconcile';
import type { groupCostReportWorkflow } from '../../workflows/group-report';

export const RECONCILE_SCHEDULE_ID = 'lease-costs-reconcile';
const RECONCILE_WORKFLOW_TYPE = 'reconcileLeasesWorkflow';

const PURPOSE =
  'lease-costs reconciliation: starts the lease workflow for ISB leases that ended without one (a LeaseTerminated event that never arrived).';

type ScheduleConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'RECONCILE_INTERVAL_MINUTES' | 'RECONCILE_LOOKBACK_DAYS'>;

const describeSchedule = (config: ScheduleConfig) =>
  `Every ${config.RECONCILE_INTERVAL_MINUTES} min: start the lease-costs workflow for each ISB lease that ended in the last ` +
  `${config.RECONCILE_LOOKBACK_DAYS} days and has no run (a missed LeaseTerminated event).`;

function action(config: ScheduleConfig): ScheduleOptionsStartWorkflowAction<typeof reconcileLeasesWorkflow> {
  return {
    type: 'startWorkflow',
    workflowType: RECONCILE_WORKFLOW_TYPE,
    workflowId: RECONCILE_SCHEDULE_ID,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [{ lookbackDays: config.RECONCILE_LOOKBACK_DAYS }],
    staticSummary: `Reconcile ISB leases ended in the last ${config.RECONCILE_LOOKBACK_DAYS} days`,
  };
}

/**
 * Creates the `lease-costs-reconcile` schedule, or brings an existing one to the configured
 * interval, look-back and task queue: running it twice changes nothing. A run still going when the
 * next is due is left alone (overlap SKIP); missed runs are not replayed (the next one covers them).
 */
export async function installReconcileSchedule(
  client: Client,
  config: ScheduleConfig,
  opts: { trigger?: boolean } = {},
): Promise<{ scheduleId: string; outcome: 'created' | 'updated'; description: string }> {
  const spec = { intervals: [{ every: `${config.RECONCILE_INTERVAL_MINUTES} minutes` as const }] };
  const policies = { overlap: 'SKIP' as const, catchupWindow: '1 minute' as const };
  const description = describeSchedule(config);
  let outcome: 'created' | 'updated' = 'created';
  try {
    await client.schedule.create({
      scheduleId: RECONCILE_SCHEDULE_ID,
      spec,
      action: action(config),
      policies,
      // The memo cannot be updated later, so it says what the schedule is for; the note carries the numbers.
      memo: { description: PURPOSE },
      state: { note: description },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    outcome = 'updated';
    await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).update((previous) => ({
      ...previous,
      spec,
      action: action(config),
      policies,
      state: { ...previous.state, note: description },
    }));
  }
  if (opts.trigger) await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).trigger('SKIP');
  return { scheduleId: RECONCILE_SCHEDULE_ID, outcome, description };
}

export const MONTHLY_SCHEDULE_ID = 'lease-costs-monthly';
export const GROUP_REPORT_WORKFLOW_TYPE = 'groupCostReportWorkflow';

type MonthlyScheduleConfig = Pick<
  Config,
  'TEMPORAL_TASK_QUEUE' | 'GROUP_REPORT_DAY_OF_MONTH' | 'GROUP_REPORT_HOUR_UTC'
>;

const MONTHLY_PURPOSE =
  "lease-costs monthly group report: last month's costs per cost report group and per lease, as CSVs in S3, and GroupCostReportGenerated.";

const describeMonthly = (config: MonthlyScheduleConfig) =>
  `On day ${config.GROUP_REPORT_DAY_OF_MONTH} of each month at ${String(config.GROUP_REPORT_HOUR_UTC).padStart(2, '0')}:00 UTC: ` +
  "the previous month's group report (ended leases from the ledger, active ones from Cost Explorer).";

function monthlyAction(
  config: MonthlyScheduleConfig,
): ScheduleOptionsStartWorkflowAction<typeof groupCostReportWorkflow> {
  return {
    type: 'startWorkflow',
    workflowType: GROUP_REPORT_WORKFLOW_TYPE,
    workflowId: MONTHLY_SCHEDULE_ID,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    // No month: the run reports on the month before its start.
    args: [{}],
    staticSummary: 'Monthly group cost report for the previous month',
  };
}

/**
 * Creates the `lease-costs-monthly` schedule, or brings an existing one to the configured day,
 * hour and task queue: running it twice changes nothing. A missed run is caught up within a day
 * (the report of a month is the same a day later, only more complete).
 */
export async function installMonthlySchedule(
  client: Client,
  config: MonthlyScheduleConfig,
): Promise<{ scheduleId: string; outcome: 'created' | 'updated'; description: string }> {
  const spec = {
    calendars: [{ dayOfMonth: config.GROUP_REPORT_DAY_OF_MONTH, hour: config.GROUP_REPORT_HOUR_UTC, minute: 0 }],
  };
  const policies = { overlap: 'SKIP' as const, catchupWindow: '1 day' as const };
  const description = describeMonthly(config);
  let outcome: 'created' | 'updated' = 'created';
  try {
    await client.schedule.create({
      scheduleId: MONTHLY_SCHEDULE_ID,
      spec,
      action: monthlyAction(config),
      policies,
      memo: { description: MONTHLY_PURPOSE },
      state: { note: description },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    outcome = 'updated';
    await client.schedule.getHandle(MONTHLY_SCHEDULE_ID).update((previous) => ({
      ...previous,
      spec,
      action: monthlyAction(config),
      policies,
      state: { ...previous.state, note: description },
    }));
  }
  return { scheduleId: MONTHLY_SCHEDULE_ID, outcome, description };
}
