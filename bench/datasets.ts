// The reference datasets and leases of the benchmark.
import { randomUUID } from 'node:crypto';
import { addDays, computeBillingWindow, utcDay } from '../src/domain/billing-window';
import type { DateRange } from '../src/domain/schemas';
import type { FakeCeCall, FakeCostItem } from '../support/fakes/cost-explorer';
import { sampleCosts } from '../support/fakes/sample-data';

export interface Dataset {
  name: string;
  services: number;
  resources: number;
  /** Days of cost data; the lease spans them. */
  days: number;
}

export const SMALL: Dataset = { name: 'small', services: 3, resources: 20, days: 7 };
export const LARGE: Dataset = { name: 'large', services: 40, resources: 5_000, days: 30 };
/** `--quick` keeps the shape of the large dataset with a tenth of the resources. */
export const LARGE_QUICK: Dataset = { name: 'large (quick: 500 resources)', services: 40, resources: 500, days: 30 };

export function datasetLabel(d: Dataset) {
  return `${d.name}: ${d.services} services, ${d.resources.toLocaleString('en')} resources, ${d.days} days`;
}

export interface BenchLease {
  uuid: string;
  userEmail: string;
  accountId: string;
  /** ISB lease start. */
  startDate: string;
  /** The LeaseTerminated event's time. */
  terminatedAt: string;
  paddingHours: number;
  window: DateRange;
  items: FakeCostItem[];
}

/**
 * A lease over `dataset.days` days ending now, whose billing window (after padding) covers exactly
 * those days, with the dataset's costs in it. `settleMs` > 0 leaves a real settle timer of that
 * length (padding 1 h), as in production, where every run waits; 0 means padding 0 and no wait.
 */
export function makeLease(
  dataset: Dataset,
  args: { accountId: string; seed: number; settleMs?: number; now?: number; userEmail?: string },
): BenchLease {
  const now = args.now ?? Date.now();
  const today = utcDay(new Date(now).toISOString());
  const settleMs = args.settleMs ?? 0;
  const paddingHours = settleMs > 0 ? 1 : 0;
  // 01:30 minus the padding still rounds down to the same day.
  const startDate = `${addDays(today, -(dataset.days - 1))}T01:30:00Z`;
  const terminatedAt = new Date(now - paddingHours * 3600_000 + settleMs).toISOString();
  const window = computeBillingWindow({ leaseStart: startDate, leaseEnd: terminatedAt, paddingHours });
  const items = sampleCosts({
    accountId: args.accountId,
    start: window.start,
    end: window.end,
    services: dataset.services,
    resources: dataset.resources,
    seed: args.seed,
  });
  return {
    uuid: randomUUID(),
    userEmail: args.userEmail ?? `bench.user.${args.seed}@example.gov.uk`,
    accountId: args.accountId,
    startDate,
    terminatedAt,
    paddingHours,
    window,
    items,
  };
}

/** The LINKED_ACCOUNT a Cost Explorer request filtered on (our queries and the Lambda replay both filter on it). */
export function accountOf(call: FakeCeCall): string | undefined {
  let found: string | undefined;
  const visit = (v: unknown) => {
    if (found || !v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    const dims = o.Dimensions as { Key?: string; Values?: string[] } | undefined;
    if (dims?.Key === 'LINKED_ACCOUNT') found = dims.Values?.[0];
    for (const child of Object.values(o)) visit(child);
  };
  visit((call.request as { Filter?: unknown } | undefined)?.Filter);
  return found;
}

/** The days the last resource-level query asked for: the days the report has resource detail on. */
export function resourceDaysOf(calls: FakeCeCall[]): DateRange | undefined {
  const last = calls.filter((c) => c.operation === 'GetCostAndUsageWithResources').at(-1);
  const period = (last?.request as { TimePeriod?: { Start: string; End: string } } | undefined)?.TimePeriod;
  return period && { start: period.Start, end: period.End };
}

/** How a run's resource detail reads beside its floors, which assume detail on every resource-level day. */
export const resourceDaysNote = (crossMonth: boolean, days: DateRange | undefined) =>
  crossMonth ? `, resource days span two months; resource detail ${days ? `${days.start}..${days.end}` : 'none'}` : '';

export interface CallFloor {
  /** CSV lines at resource level: one per (service, resource, region). */
  resourceLines: number;
  /** The same, as a MONTHLY query must return them: one group per calendar month each line has costs in. */
  resourceGroups: number;
  /** The daily series' entries: one per (day, service, region), the whole window. */
  dailyEntries: number;
  /** Pages the report lines and the daily series take at the page size. */
  floor: number;
  /** Pages they take as Cost Explorer returns them (resource lines once per calendar month). */
  floorMonthly: number;
}

/**
 * The fewest pages a report of `items` can take: the older days' lines come with the daily series
 * (both by SERVICE and REGION per day), the resource-level lines need a group each. Usage records
 * of the account only, as the report counts them.
 */
export function callFloor(
  items: FakeCostItem[],
  args: { accountId: string; window: DateRange; resourceStart?: string; pageSize: number },
): CallFloor {
  const lines = new Set<string>();
  const groups = new Set<string>();
  const daily = new Set<string>();
  for (const it of items) {
    if (it.accountId !== args.accountId || (it.recordType ?? 'Usage') !== 'Usage') continue;
    if (it.date < args.window.start || it.date >= args.window.end) continue;
    daily.add(JSON.stringify([it.date, it.service, it.region]));
    if (args.resourceStart !== undefined && it.date >= args.resourceStart) {
      lines.add(JSON.stringify([it.service, it.resourceId, it.region]));
      groups.add(JSON.stringify([it.date.slice(0, 7), it.service, it.resourceId, it.region]));
    }
  }
  const pages = (n: number) => Math.ceil(n / args.pageSize);
  return {
    resourceLines: lines.size,
    resourceGroups: groups.size,
    dailyEntries: daily.size,
    floor: Math.max(1, pages(lines.size) + pages(daily.size)),
    floorMonthly: Math.max(1, pages(groups.size) + pages(daily.size)),
  };
}
