import { WorkflowFailedError } from '@temporalio/client';
import { ReportMonth } from '../../domain/chargeback';
import type { Config } from '../../infrastructure/config';
import { GROUP_REPORT_WORKFLOW_TYPE, MONTHLY_SCHEDULE_ID } from '../../infrastructure/schedule-install';
import type { GroupReport } from '../../../activities/group-report-activities';
import { CliError, EXIT_BAD_CONFIG } from '../cli-error';
import { connect } from '../lease-status';

/**
 * `lease-costs group-report --month YYYY-MM`: the monthly group report on demand, the same
 * workflow the `lease-costs-monthly` schedule runs. Starts it, waits, prints the keys and totals.
 */
export async function groupReportCommand(config: Config, opts: { month: string; json?: boolean }): Promise<void> {
  const month = ReportMonth.safeParse(opts.month);
  if (!month.success) throw new CliError(`--month ${opts.month} ${month.error.issues[0]!.message}`, EXIT_BAD_CONFIG);
  if (`${month.data}-01` > new Date().toISOString().slice(0, 10))
    throw new CliError(`--month ${month.data} has not begun`, EXIT_BAD_CONFIG);
  const client = await connect(config);
  try {
    const handle = await client.workflow.start(GROUP_REPORT_WORKFLOW_TYPE, {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      // One per month at a time; a later run of the same month writes the same keys again, more complete.
      workflowId: `${MONTHLY_SCHEDULE_ID}-${month.data}`,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ month: month.data }],
      staticSummary: `Group cost report for ${month.data} (on demand)`,
    });
    let report: GroupReport;
    try {
      report = (await handle.result()) as GroupReport;
    } catch (err) {
      if (err instanceof WorkflowFailedError)
        throw new CliError(
          `the group report for ${month.data} failed: ${(err.cause as Error | undefined)?.message ?? err.message}`,
          1,
        );
      throw err;
    }
    if (opts.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    const width = Math.max(5, ...report.groups.map((g) => g.group.length));
    const costWidth = Math.max(...report.groups.map((g) => g.cost.length), report.total.length);
    console.log(
      [
        `group report ${report.month}: ${report.leases} leases, total ${report.total} USD`,
        `groups CSV   s3://${report.bucket}/${report.groupsKey} (SHA-256 ${report.checksumSha256})`,
        `leases CSV   s3://${report.bucket}/${report.leasesKey} (SHA-256 ${report.leaseChecksumSha256})`,
        '',
        ...report.groups.map(
          (g) =>
            `${g.group.padEnd(width)}  ${g.cost.padStart(costWidth)}  ${g.leases} lease${g.leases === 1 ? '' : 's'}`,
        ),
        `${'-'.repeat(width)}  ${'-'.repeat(costWidth)}`,
        `${'total'.padEnd(width)}  ${report.total.padStart(costWidth)}`,
      ].join('\n'),
    );
  } finally {
    await client.connection.close();
  }
}
