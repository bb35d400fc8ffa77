import { z } from 'zod';
import { formatAmount, parseAmount } from './money';

// Which of Cost Explorer's record types a report counts (COST_SCOPE; docs/reports.md#which-costs-count).
//
// - `usage`: RECORD_TYPE = Usage, as the system we replace queries (seed 004). Usage covered by a
//   Savings Plan (SavingsPlanCoveredUsage) or a Reserved Instance (DiscountedUsage) is another
//   record type, so it is left out, as are fees, tax and support.
// - `all-except-credits-refunds`: NOT RECORD_TYPE IN (Credit, Refund), the ISB's own filter
//   (aws-solutions/innovation-sandbox-on-aws, source/common/isb-services/cost-explorer-service.ts,
//   getGetCostAndUsageCommandInput): what its lease monitor sums into `totalCostAccrued` and
//   enforces budgets against.

export const COST_SCOPES = ['usage', 'all-except-credits-refunds'] as const;
export const CostScope = z.enum(COST_SCOPES);
export type CostScope = z.infer<typeof CostScope>;

/** What every report counted before the setting existed: summaries, records and ledger rows without a scope are this. */
export const DEFAULT_COST_SCOPE: CostScope = 'usage';

/** The RECORD_TYPE values a scope filters on, and whether it keeps them (`usage`) or leaves them out. */
export const RECORD_TYPES_OF: Record<CostScope, { include: boolean; recordTypes: string[] }> = {
  usage: { include: true, recordTypes: ['Usage'] },
  'all-except-credits-refunds': { include: false, recordTypes: ['Credit', 'Refund'] },
};

/** One line for people: which record types a scope counts. */
export function describeCostScope(scope: CostScope): string {
  const { include, recordTypes } = RECORD_TYPES_OF[scope];
  return include
    ? `${scope}: record type ${recordTypes.join(', ')} only`
    : `${scope}: every record type except ${recordTypes.join(' and ')} (what the ISB counts)`;
}

/** Ours minus the ISB's `totalCostAccrued`, exact. */
export function isbDifference(ours: string, totalCostAccrued: string): string {
  return formatAmount(parseAmount(ours).minus(parseAmount(totalCostAccrued)));
}

/**
 * Why our total and the ISB's `totalCostAccrued` can differ. The ISB's figure is its lease
 * monitor's last reading while the lease ran (lease-monitoring-handler.ts), over the lease's own
 * days from cost data that lags by hours; ours reads the padded billing window after the settle delay.
 */
export function whyIsbDiffers(scope: CostScope): string {
  const timing =
    "The ISB records its figure while the lease runs, from cost data that lags by hours, over the lease's own days; this report reads the padded billing window once the costs have settled.";
  return scope === 'usage'
    ? `The ISB counts every record type except credits and refunds (so also tax, support, fees and usage that a Savings Plan or Reserved Instance covers); this report counts Usage only (COST_SCOPE=usage). ${timing}`
    : `Both count every record type except credits and refunds (COST_SCOPE=all-except-credits-refunds). ${timing}`;
}

/** Our total beside the ISB's, for `status`: undefined when either is unknown. */
export function isbComparison(
  ours: string | undefined,
  totalCostAccrued: string | undefined,
  scope: CostScope | undefined,
) {
  if (ours === undefined || totalCostAccrued === undefined) return undefined;
  const costScope = scope ?? DEFAULT_COST_SCOPE;
  return {
    ours,
    totalCostAccrued,
    difference: isbDifference(ours, totalCostAccrued),
    costScope,
    why: whyIsbDiffers(costScope),
  };
}
