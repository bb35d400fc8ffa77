import { z } from 'zod';
import { SERVICE_LEVEL_RESOURCE } from './collection';
import { CostScope } from './cost-scope';
import type { CostReport } from './csv';
import { AmountSum, checkAmount, compareCanonical, fromUnits, scaleOf, toUnits } from './money';
import { type CostRow, DateRange, DecimalString, IsoDate, LeaseAttribution } from './schemas';

// What one published report adds up to, beside its CSV: what the chart draws and the ledger
// records. Written once per (lease, version) as JSON in S3 (see summaryKey); it never travels in
// workflow history, whose payloads stay small at any report size.

/** Resources the chart lists by cost. */
export const SUMMARY_TOP_RESOURCES = 10;

export const DailyCost = z.object({ date: IsoDate, service: z.string(), region: z.string(), cost: DecimalString });
export type DailyCost = z.infer<typeof DailyCost>;

export const LeaseSummary = z.object({
  leaseUuid: z.string(),
  version: z.number().int().min(1),
  currency: z.literal('USD'),
  /** The CSV's exact total. */
  total: DecimalString,
  /** The same rows' AmortizedCost (FOCUS EffectiveCost); rows without it count their unblended cost. */
  amortizedTotal: DecimalString.optional(),
  /** Which record types every amount here counts (COST_SCOPE); absent in summaries from before it: `usage`. */
  costScope: CostScope.optional(),
  /** Cost per service and region over the report, largest first (ties by name). */
  byService: z.array(z.object({ service: z.string(), cost: DecimalString })),
  byRegion: z.array(z.object({ region: z.string(), cost: DecimalString })),
  /** Cost per day, service and region over the whole billing window, sorted by date, service, region. */
  daily: z.array(DailyCost),
  /**
   * The costliest resource lines of the CSV, at most SUMMARY_TOP_RESOURCES. The '(service level)'
   * lines are not resources and never listed: a service-level report has none (byService says it).
   */
  topResources: z.array(
    z.object({ resourceName: z.string(), service: z.string(), region: z.string(), cost: DecimalString }),
  ),
  billingWindow: DateRange.optional(),
  /** What the ISB says the lease belongs to, and the days it shares with other leases of its account. */
  attribution: LeaseAttribution.optional(),
});
export type LeaseSummary = z.infer<typeof LeaseSummary>;

/** Exact sums per key: an integer count of 10^-scale, widened as finer amounts arrive. */
class ExactSums {
  private readonly sums = new Map<string, { units: bigint; scale: number }>();

  add(key: string, amount: string): void {
    checkAmount(amount);
    const scale = scaleOf(amount);
    const acc = this.sums.get(key);
    if (!acc) {
      this.sums.set(key, { units: toUnits(amount, scale), scale });
      return;
    }
    if (scale > acc.scale) {
      acc.units *= 10n ** BigInt(scale - acc.scale);
      acc.scale = scale;
    }
    acc.units += toUnits(amount, acc.scale);
  }

  entries(): [string, string][] {
    return [...this.sums].map(([k, { units, scale }]) => [k, fromUnits(units, scale)]);
  }
}

/** Exact sums over few keys and many rows (the report's): AmountSum's digit columns, no BigInt per row. */
class ColumnSums {
  private readonly sums = new Map<string, AmountSum>();

  add(key: string, amount: string): void {
    let sum = this.sums.get(key);
    if (!sum) this.sums.set(key, (sum = new AmountSum()));
    sum.add(amount);
  }

  get(key: string): string {
    return this.sums.get(key)?.toString() ?? '0';
  }

  entries(): [string, string][] {
    return [...this.sums].map(([k, sum]) => [k, sum.toString()]);
  }
}

const cmpText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const largestFirst = ([ka, a]: [string, string], [kb, b]: [string, string]) =>
  compareCanonical(b, a) || cmpText(ka, kb);
// NUL cannot occur in a date and keeps a joined key unambiguous for the other two parts.
const SEP = '\u0000';

/**
 * Builds a LeaseSummary page by page, beside the CSV. Its state is bounded by the report's shape,
 * never its row count: services, regions and days × services × regions; the top resources come
 * from the CSV builder's aggregated lines (CostReport.topLines).
 */
export class LeaseSummaryBuilder {
  private readonly services = new ColumnSums();
  private readonly regions = new ColumnSums();
  private readonly amortized = new ColumnSums();
  private readonly days = new ExactSums();

  /** A page of the report's rows (what the CSV adds up). */
  addReportRows(rows: Iterable<CostRow>): void {
    for (const row of rows) {
      const amortized = row.amortizedCost ?? row.cost;
      checkAmount(row.cost);
      checkAmount(amortized);
      this.services.add(row.service, row.cost);
      this.regions.add(row.region, row.cost);
      this.amortized.add('', amortized);
    }
  }

  /** A page of DAILY service-level rows; rows without a day (staged before DAILY) are left out. */
  addDailyRows(rows: Iterable<CostRow>): void {
    for (const row of rows) {
      if (row.date !== undefined && row.periodEnd === undefined)
        this.days.add(`${row.date}${SEP}${row.service}${SEP}${row.region}`, row.cost);
    }
  }

  /** The summary of `report`, the CSV built from the same report rows. */
  finish(
    args: {
      leaseUuid: string;
      version: number;
      costScope?: CostScope;
      billingWindow?: DateRange;
      attribution?: LeaseAttribution;
    },
    report: CostReport,
  ): LeaseSummary {
    const daily = this.days
      .entries()
      .map(([key, cost]) => {
        const [date = '', service = '', region = ''] = key.split(SEP);
        return { date, service, region, cost };
      })
      .sort((a, b) => cmpText(a.date, b.date) || cmpText(a.service, b.service) || cmpText(a.region, b.region));
    return {
      leaseUuid: args.leaseUuid,
      version: args.version,
      currency: 'USD',
      total: report.total,
      amortizedTotal: this.amortized.get(''),
      ...(args.costScope ? { costScope: args.costScope } : {}),
      byService: this.services
        .entries()
        .sort(largestFirst)
        .map(([service, cost]) => ({ service, cost })),
      byRegion: this.regions
        .entries()
        .sort(largestFirst)
        .map(([region, cost]) => ({ region, cost })),
      daily,
      topResources: report
        .topLines(SUMMARY_TOP_RESOURCES, (name) => name === SERVICE_LEVEL_RESOURCE)
        .map(({ resourceName, service, region, cost }) => ({ resourceName, service, region, cost })),
      ...(args.billingWindow ? { billingWindow: args.billingWindow } : {}),
      ...(args.attribution ? { attribution: args.attribution } : {}),
    };
  }
}
