import { z } from 'zod';
import { CostScope, DEFAULT_COST_SCOPE } from './cost-scope';
import type { LeaseSummary } from './lease-summary';
import { formatAmount, sumAmounts } from './money';
import { AccountId, DateRange, DecimalString, IsoDate, IsoDateTime, LeaseAttribution, LeaseUuid } from './schemas';

// The cost ledger: every published report, queryable across leases. Pure rules only; the
// PostgreSQL side is activities/ledger-activities.ts (writes) and src/infrastructure/ledger-db.ts (schema, reads).

/** The ISB compares e-mails case-insensitively (activities/isb.ts): the ledger keeps one form. */
export const UserEmail = z.string().trim().toLowerCase().pipe(z.email());

/** What the workflow knows of a published report; the amounts come from its summary in S3. */
export const LedgerEntry = z.object({
  leaseUuid: LeaseUuid,
  version: z.number().int().min(1),
  userEmail: UserEmail,
  accountId: AccountId,
  billingWindow: DateRange,
  /** The CSV's exact total: the summary must agree with it. */
  total: DecimalString,
  bucket: z.string().min(1),
  reportKey: z.string().min(1),
  publishedAt: IsoDateTime,
  /** Group, template, budget, the ISB's accrued cost, termination reason, shared days: absent in entries made before them. */
  attribution: LeaseAttribution.optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

export const LedgerOutcome = z.object({
  /** `recorded` now, `already` by an earlier attempt (a retry), `disabled` with LEDGER_ENABLED=false. */
  outcome: z.enum(['recorded', 'already', 'disabled']),
  dailyRows: z.number().int().min(0),
});
export type LedgerOutcome = z.infer<typeof LedgerOutcome>;

export const COST_GROUPINGS = [
  'lease',
  'user',
  'service',
  'region',
  'month',
  'group',
  'template',
  'reason',
  'scope',
] as const;
export const CostGrouping = z.enum(COST_GROUPINGS);
export type CostGrouping = z.infer<typeof CostGrouping>;

/** `since`/`until` are cost days, inclusive: a lease backfilled today counts in the month it cost. */
export const CostsFilter = z
  .object({
    user: UserEmail.optional(),
    account: AccountId.optional(),
    since: IsoDate.optional(),
    until: IsoDate.optional(),
    /** Only reports that count these record types (COST_SCOPE). */
    scope: CostScope.optional(),
  })
  .refine((f) => !f.since || !f.until || f.since <= f.until, {
    message: '--since must not be after --until',
    path: ['since'],
  });
export type CostsFilter = z.infer<typeof CostsFilter>;

/** One line of `lease-costs costs`: the group, its exact total and how many leases it spans. */
export const CostsLine = z.object({
  key: z.string(),
  cost: DecimalString,
  leases: z.number().int(),
  /** With `--by lease`: whose lease, in which account. */
  user: z.string().optional(),
  account: z.string().optional(),
});
export type CostsLine = z.infer<typeof CostsLine>;

/**
 * The daily rows of the entry's summary (the summary reader has checked it is that lease's version),
 * checked against the report. Every grouping of the ledger is a SUM over these rows, so they must
 * add up to the CSV's total to the last digit and lie inside the billing window; anything else is
 * bad data, which no retry fixes.
 */
export function ledgerRowsOf(
  entry: LedgerEntry,
  summary: LeaseSummary,
): { total: string; daily: LeaseSummary['daily']; costScope: CostScope } {
  const { start, end } = entry.billingWindow;
  const outside = summary.daily.find((d) => d.date < start || d.date >= end);
  if (outside)
    throw new Error(`summary has a cost on ${outside.date}, outside the billing window ${start} to ${end} (exclusive)`);
  const seen = new Set<string>();
  for (const d of summary.daily) {
    const k = JSON.stringify([d.date, d.service, d.region]);
    if (seen.has(k)) throw new Error(`summary has two daily rows for ${d.date} ${d.service} ${d.region}`);
    seen.add(k);
  }
  const sum = formatAmount(sumAmounts(summary.daily.map((d) => d.cost)));
  const total = formatAmount(sumAmounts([summary.total]));
  if (sum !== total) throw new Error(`summary's daily costs add up to ${sum}, not its total ${total}`);
  const csvTotal = formatAmount(sumAmounts([entry.total]));
  if (total !== csvTotal) throw new Error(`summary's total ${total} is not the report's ${csvTotal}`);
  return { total, daily: summary.daily, costScope: summary.costScope ?? DEFAULT_COST_SCOPE };
}
