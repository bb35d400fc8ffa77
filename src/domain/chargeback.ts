import { z } from 'zod';
import { addDays, utcDay } from './billing-window';
import { formatAmount, sumAmounts } from './money';
import { AccountId, type DateRange, DecimalString, IsoDateTime, LeaseUuid } from './schemas';

export { daysCountedElsewhere, sharedDaysOf } from './shared-days';
export { groupReportKeys, monthRange, previousMonth } from './report-month';

// Chargeback: what the ISB says a lease belongs to (its cost report group, template, budget), the
// days a lease shares with another lease of its account, and the monthly group report. Pure rules;
// activities/group-report.ts and the ledger do the I/O. docs/chargeback.md states the rules.

/** The row of leases without a cost report group, in `costs --by group` and our lease CSV. */
export const NO_GROUP = '(no group)';
/** Rows of `costs --by template|reason` for leases the ISB or the event did not say it for. */
export const NO_TEMPLATE = '(no template)';
export const NO_REASON = '(no reason)';
/**
 * The same row in the ISB-format group CSV, spelt as the ISB's own report spells it
 * (innovation-sandbox-on-aws source/lambdas/metrics/group-cost-reporting/src/group-cost-reporting-handler.ts,
 * `lease.costReportGroup ?? "No cost report group"`), so its consumers can switch unchanged.
 */
export const ISB_NO_GROUP = 'No cost report group';

/** Another lease of the same account, as the ISB API lists it. */
export const AccountLease = z.object({
  uuid: LeaseUuid,
  startDate: IsoDateTime,
  endDate: IsoDateTime.optional(),
  status: z.string(),
});
export type AccountLease = z.infer<typeof AccountLease>;

// ---- The monthly group report ----

export const ReportMonth = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month, YYYY-MM');
export type ReportMonth = z.infer<typeof ReportMonth>;

/** A lease the ISB lists as Active or Frozen: its month-to-date costs come from Cost Explorer. */
export const ActiveLease = z.object({
  uuid: LeaseUuid,
  userEmail: z.string(),
  accountId: AccountId,
  startDate: IsoDateTime,
  status: z.string(),
  costReportGroup: z.string().optional(),
});
export type ActiveLease = z.infer<typeof ActiveLease>;

/** One row of the per-lease CSV. */
export const GroupReportLeaseRow = z.object({
  group: z.string(),
  leaseUuid: z.string(),
  userEmail: z.string(),
  accountId: z.string(),
  /** `ended` from the ledger, `active` month-to-date from Cost Explorer. */
  source: z.enum(['ended', 'active']),
  daysInMonth: z.number().int().min(0),
  cost: DecimalString,
});
export type GroupReportLeaseRow = z.infer<typeof GroupReportLeaseRow>;

export const GroupTotal = z.object({ group: z.string(), cost: DecimalString, leases: z.number().int() });
export type GroupTotal = z.infer<typeof GroupTotal>;

/** Group totals as exact sums of their lease rows, largest first (ties by name). */
export function groupTotals(rows: GroupReportLeaseRow[]): GroupTotal[] {
  const byGroup = new Map<string, string[]>();
  for (const r of rows) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r.cost]);
  return [...byGroup]
    .map(([group, costs]) => ({ group, cost: formatAmount(sumAmounts(costs)), leases: costs.length }))
    .sort(
      (a, b) =>
        sumAmounts([b.cost]).comparedTo(sumAmounts([a.cost])) || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0),
    );
}

/**
 * Month-to-date rows of active leases: the account's daily costs from the lease's start day to the
 * month's end, leaving out the (account, day) pairs an ended lease in the ledger already counts.
 */
export function activeLeaseRows(
  leases: ActiveLease[],
  month: DateRange,
  dailyByAccount: Map<string, Map<string, string>>,
  countedDays: Set<string>,
): GroupReportLeaseRow[] {
  return leases.map((l) => {
    const from = utcDay(l.startDate) > month.start ? utcDay(l.startDate) : month.start;
    const days = dailyByAccount.get(l.accountId) ?? new Map<string, string>();
    const mine = [...days].filter(([d]) => d >= from && d < month.end && !countedDays.has(`${l.accountId}/${d}`));
    let daysInMonth = 0;
    for (let d = from; d < month.end; d = addDays(d, 1)) if (!countedDays.has(`${l.accountId}/${d}`)) daysInMonth++;
    return {
      group: l.costReportGroup ?? NO_GROUP,
      leaseUuid: l.uuid,
      userEmail: l.userEmail,
      accountId: l.accountId,
      source: 'active' as const,
      daysInMonth,
      cost: formatAmount(sumAmounts(mine.map(([, c]) => c))),
    };
  });
}

/** The ISB's columns (group-cost-reporting-handler.ts generateCSV): StartDate and EndDate are the month's first and last day. */
export const ISB_GROUP_CSV_HEADER = ['CostReportGroup', 'StartDate', 'EndDate', 'Cost', 'Currency'];
export const LEASE_CSV_HEADER = [
  'CostReportGroup',
  'LeaseId',
  'UserEmail',
  'AccountId',
  'Source',
  'DaysInMonth',
  'Cost',
  'Currency',
];

/** The detail of `GroupCostReportGenerated` (source isb-costs): the ISB's fields plus ours, only ever added to. */
export const GroupCostReportGeneratedDetail = z.object({
  schemaVersion: z.literal(1),
  /** As the ISB's event: `reportMonth`, `fileName` (the group CSV), `bucketName`, `timestamp`. */
  reportMonth: ReportMonth,
  fileName: z.string(),
  bucketName: z.string(),
  timestamp: IsoDateTime,
  /** The per-lease CSV. */
  leaseFileName: z.string(),
  checksumSha256: z.string(),
  leaseChecksumSha256: z.string(),
  totalCost: DecimalString,
  currency: z.literal('USD'),
  groups: z.number().int(),
  leases: z.number().int(),
});
export type GroupCostReportGeneratedDetail = z.infer<typeof GroupCostReportGeneratedDetail>;
export const GROUP_REPORT_DETAIL_TYPE = 'GroupCostReportGenerated';
