import { SERVICE_LEVEL_RESOURCE } from './collection';
import { addDays } from './billing-window';
import { neutraliseCell } from './csv';
import { checkAmount } from './money';
import type { CostRow, DateRange } from './schemas';

// The report in FinOps FOCUS columns (https://focus.finops.org), the columns Cost Explorer's
// answers fill exactly. Not a complete FOCUS dataset: BillingAccountId (the payer is not ours to
// know), ListCost and ContractedCost (no list or contracted price in Cost Explorer's metrics;
// FOCUS allows no null there) and the SKU and pricing columns are left out rather than guessed.

export const FOCUS_VERSION = '1.2';

export const FOCUS_COLUMNS = [
  'BilledCost',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ProviderName',
  'PublisherName',
  'RegionId',
  'ResourceId',
  'ServiceName',
  'SubAccountId',
] as const;

export const FOCUS_HEADER = `${FOCUS_COLUMNS.join(',')}\r\n`;

const AWS = 'AWS';

/** RFC 4180 with the report's formula guard, as the CSV writes its cells. */
function cell(s: string): string {
  const guarded = neutraliseCell(s);
  return /[",\r\n]/.test(guarded) ? `"${guarded.replaceAll('"', '""')}"` : guarded;
}

// FOCUS date/times are UTC, 'YYYY-MM-DDTHH:mm:ssZ'; Cost Explorer's periods start at 00:00 UTC.
const at = (date: string) => `${date}T00:00:00Z`;

/** The calendar month a day is in: AWS bills by month, and no Cost Explorer period crosses one. */
function billingPeriod(date: string): DateRange {
  const [y, m] = date.split('-').map(Number) as [number, number];
  const next = new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 10);
  return { start: `${date.slice(0, 7)}-01`, end: next };
}

/**
 * FOCUS lines for report rows, in their order. A row without its period (staged before rows
 * carried one) is charged over the whole billing window. Amounts are Cost Explorer's strings,
 * checked, never rewritten: BilledCost is UnblendedCost and EffectiveCost AmortizedCost (its
 * unblended cost where a row has no amortised one).
 */
export function focusLines(rows: Iterable<CostRow>, ctx: { accountId: string; billingWindow: DateRange }): string {
  let out = '';
  for (const row of rows) {
    const effective = row.amortizedCost ?? row.cost;
    checkAmount(row.cost);
    checkAmount(effective);
    const start = row.date ?? ctx.billingWindow.start;
    const end = row.date === undefined ? ctx.billingWindow.end : (row.periodEnd ?? addDays(row.date, 1));
    const billing = billingPeriod(start);
    const resourceId = row.resourceName === SERVICE_LEVEL_RESOURCE ? '' : row.resourceName;
    out +=
      [
        row.cost,
        'USD',
        at(billing.end),
        at(billing.start),
        'Usage',
        '',
        at(end),
        at(start),
        effective,
        AWS,
        AWS,
        AWS,
        cell(row.region),
        cell(resourceId),
        cell(row.service),
        cell(ctx.accountId),
      ].join(',') + '\r\n';
  }
  return out;
}
