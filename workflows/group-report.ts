import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { GroupReport } from '../activities/group-report-activities';
import { addDays, utcDay } from '../src/domain/billing-window';
import { groupReportKeys, monthRange, previousMonth } from '../src/domain/report-month';
import { costExplorerPage, groupReportWrite, isbScan, publish } from './activity-options';

export interface GroupReportInput {
  /** YYYY-MM; the month before the run's start when absent (the schedule's case). */
  month?: string;
}

const { listActiveLeases } = proxyActivities<Activities>(isbScan);
const { writeGroupReport } = proxyActivities<Activities>(groupReportWrite);
const { publishGroupReport } = proxyActivities<Activities>(publish);

/**
 * The monthly group report: the ledger's ended leases and the ISB's active ones, their costs in
 * the month, two CSVs in S3 and `GroupCostReportGenerated`. Active leases' month-to-date costs
 * come from one Cost Explorer query for every account (grouped by LINKED_ACCOUNT, DAILY), one
 * activity per page, through the pacer like every other call.
 */
export async function groupCostReportWorkflow(input: GroupReportInput = {}): Promise<GroupReport> {
  const { collectAccountDailyPage } = proxyActivities<Activities>(costExplorerPage());
  const now = new Date().toISOString();
  const month = input.month ?? previousMonth(now);
  const range = monthRange(month);
  const activeLeases = await listActiveLeases.executeWithOptions(
    { summary: `Active and frozen ISB leases that started before ${range.end}` },
    [{ before: `${range.end}T00:00:00Z` }],
  );
  // Month to date: Cost Explorer refuses a range that ends after the first of next month, and has nothing after today.
  const today = addDays(utcDay(now), 1);
  const costRange = { start: range.start, end: today < range.end ? today : range.end };
  const staging = { prefix: `${groupReportKeys('', month).staging}${workflowInfo().runId}/`, pages: 0 };
  if (activeLeases.length > 0 && costRange.start < costRange.end) {
    let nextPageToken: string | undefined;
    do {
      ({ nextPageToken } = await collectAccountDailyPage.executeWithOptions(
        {
          summary: `Cost Explorer: every account's daily costs ${costRange.start} to ${costRange.end}, page ${staging.pages + 1}`,
        },
        [{ range: costRange, stagingPrefix: staging.prefix, page: staging.pages, nextPageToken }],
      ));
      staging.pages++;
    } while (nextPageToken);
  }
  const report = await writeGroupReport.executeWithOptions(
    { summary: `Write the ${month} group and lease CSVs to S3 with SHA-256 verification` },
    [{ month, activeLeases, staging }],
  );
  await publishGroupReport.executeWithOptions({ summary: `Emit GroupCostReportGenerated for ${month}` }, [report]);
  return report;
}
