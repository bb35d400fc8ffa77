import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { CostScope } from './cost-scope';
import { ErrorType } from './errors';
import { DateRange, IsoDate, LeaseUuid } from './schemas';

// What a collection reads from Cost Explorer, and where its pages are staged. Pure: the plan, the
// resume point and the staging keys; activities/cost-explorer.ts does the calls.

/**
 * - `service`: GetCostAndUsage by SERVICE and REGION, DAILY, for days beyond the resource-level horizon.
 * - `regions`: the same query over the resource-level days; it tells which services ran in which
 *   regions, gives those days' daily series, and its rows become the report's if resource-level
 *   data turns out to be refused (or, outside the resource days, if those had to narrow: see
 *   narrowResourceDays).
 * - `resource`: GetCostAndUsageWithResources by SERVICE and RESOURCE_ID. A query takes two GroupBy
 *   keys at most, so the region comes from the filter: query `plan` of resourcePlan asks, per
 *   region, for services that it asks in no other region, so every row's service tells its region.
 *   A service seen in one region needs no query of its own: one query covers every such service,
 *   and a lease needs as many resource queries as its most widespread service has regions.
 *   (`region`, one region and every service in it, is the plan of runs started before `plan`.)
 */
export const SegmentKind = z.enum(['service', 'regions', 'resource']);
export type SegmentKind = z.infer<typeof SegmentKind>;

export const Granularity = z.enum(['MONTHLY', 'DAILY']);
export type Granularity = z.infer<typeof Granularity>;

export const Segment = z.object({
  kind: SegmentKind,
  range: DateRange,
  region: z.string().optional(),
  /**
   * Resource queries: which query of the plan this is (resourcePlan of the pairs staged under
   * planKey). The plan names services, so it stays in staging: the resume point travels with
   * every page and stays small.
   */
  plan: z.number().int().min(0).optional(),
  /** `regions` only: its rows dated before this day are report rows (service level). */
  reportBefore: IsoDate.optional(),
  /** `regions` only: its rows dated on or after this day are report rows too (see narrowResourceDays). */
  reportFrom: IsoDate.optional(),
  /** Staged parts written so far. */
  pages: z.number().int().min(0),
});
export type Segment = z.infer<typeof Segment>;

export const ResourceLevel = z.enum(['used', 'not-needed', 'unavailable']);
export type ResourceLevel = z.infer<typeof ResourceLevel>;

export const CollectionInput = z.object({
  leaseUuid: LeaseUuid,
  accountId: z.string(),
  version: z.number().int().min(1),
  resourceLevel: DateRange.nullable(),
  serviceLevel: DateRange.nullable(),
});
export type CollectionInput = z.infer<typeof CollectionInput>;

/** The resume point between calls, small on purpose: it travels in activity payloads. */
export const CollectionProgress = z.object({
  segments: z.array(Segment),
  segmentIndex: z.number().int().min(0),
  nextPageToken: z.string().optional(),
  pages: z.number().int().min(0),
  calls: z.number().int().min(0),
  resourceLevel: ResourceLevel,
  /** MONTHLY until Cost Explorer refuses it for resources; then DAILY for the rest of the run. */
  resourceGranularity: Granularity,
  /** Regions seen so far by the `regions` segment. */
  regions: z.array(z.string()),
  /** Why resource-level data was refused, when it was: the error's name and message. */
  refusal: z.object({ error: z.string(), message: z.string() }).optional(),
  /** When the first call went out (epoch ms), for the collection-duration metric. */
  startedAtMs: z.number().optional(),
  /** The record types every query of this collection counts, fixed at its first page; absent: `usage`. */
  costScope: CostScope.optional(),
});
export type CollectionProgress = z.infer<typeof CollectionProgress>;

export const CollectionResult = z.object({
  /** Where the staged pages are: keys derive from it, so the payload stays small at any size. */
  stagingPrefix: z.string(),
  segments: z.array(Segment),
  pages: z.number().int(),
  calls: z.number().int(),
  /** 'unavailable' when resource-level data was asked for but Cost Explorer refused it. */
  resourceLevel: ResourceLevel,
  /** With 'unavailable': the refusal, for the log line and the operator. */
  refusal: z.object({ error: z.string(), message: z.string() }).optional(),
  /** The record types the staged rows count; absent in results from before COST_SCOPE: `usage`. */
  costScope: CostScope.optional(),
});
export type CollectionResult = z.infer<typeof CollectionResult>;

export type CollectionStep = { done: false; progress: CollectionProgress } | { done: true; result: CollectionResult };

export const SERVICE_LEVEL_RESOURCE = '(service level)';

export function startCollection(input: CollectionInput): CollectionProgress {
  const segments: Segment[] = [];
  if (input.serviceLevel) segments.push({ kind: 'service', range: input.serviceLevel, pages: 0 });
  if (input.resourceLevel) segments.push({ kind: 'regions', range: input.resourceLevel, pages: 0 });
  return {
    segments,
    segmentIndex: 0,
    pages: 0,
    calls: 0,
    regions: [],
    resourceLevel: input.resourceLevel ? 'used' : 'not-needed',
    resourceGranularity: 'MONTHLY',
  };
}

export const isCollected = (p: CollectionProgress) => p.segmentIndex >= p.segments.length;

/**
 * The resource queries, given the (service, region) pairs the `regions` segment saw: query i asks
 * each service for its i-th region, so no query holds a service twice and the rows' service tells
 * their region. As many queries as the most widespread service has regions; none without costs.
 */
export function resourcePlan(pairs: [string, string][]): Record<string, string[]>[] {
  const regionsOf = new Map<string, string[]>();
  for (const [service, region] of pairs) regionsOf.set(service, [...(regionsOf.get(service) ?? []), region]);
  const plans: Record<string, string[]>[] = [];
  for (const service of [...regionsOf.keys()].sort()) {
    [...new Set(regionsOf.get(service))].sort().forEach((region, i) => {
      const plan = (plans[i] ??= {});
      (plan[region] ??= []).push(service);
    });
  }
  return plans;
}

/** After the `regions` segment: the resource segments of a plan of `queries` queries, in order. */
export function planResourceSegments(progress: CollectionProgress, range: DateRange, queries: number): void {
  for (let plan = 0; plan < queries; plan++) progress.segments.push({ kind: 'resource', range, plan, pages: 0 });
}

/**
 * Cost Explorer refused resource-level data: the `regions` rows are the report for those days, at
 * no extra call, marked as service level ('(service level)' rows, resourceLevel 'unavailable').
 */
export function fallBackToServiceLevel(
  progress: CollectionProgress,
  refusal?: { error: string; message: string },
): void {
  progress.segments = progress.segments
    .filter((s) => s.kind !== 'resource')
    .map((s) => {
      if (s.kind !== 'regions') return s;
      const { reportBefore: _before, reportFrom: _from, ...rest } = s;
      return { ...rest, kind: 'service' as const };
    });
  progress.segmentIndex = progress.segments.length;
  progress.nextPageToken = undefined;
  progress.resourceLevel = 'unavailable';
  if (refusal) progress.refusal = refusal;
}

/**
 * The resource-level days are now `range`, within the planned ones: the start moved past a
 * midnight (the 14-day limit), or the days of one month were dropped (monthOfMostDays). The
 * `regions` rows outside it become report rows, and every resource query starts over on it, so
 * each day is counted once, at one level.
 */
export function narrowResourceDays(progress: CollectionProgress, range: DateRange): void {
  const first = progress.segments.findIndex((s) => s.kind === 'resource');
  if (first < 0) return;
  progress.segments = progress.segments.map((s) => {
    if (s.kind === 'regions')
      return {
        ...s,
        ...(range.start > s.range.start ? { reportBefore: range.start } : {}),
        ...(range.end < s.range.end ? { reportFrom: range.end } : {}),
      };
    if (s.kind === 'resource') return { ...s, range, pages: 0 };
    return s;
  });
  progress.segmentIndex = Math.min(progress.segmentIndex, first);
  progress.nextPageToken = undefined;
}

/** Keys are built only from a validated uuid, version and positions: nothing from Cost Explorer reaches a key. */
function keyParts(leaseUuid: string, version: number): { uuid: string; version: number } {
  const uuid = LeaseUuid.safeParse(leaseUuid);
  if (!uuid.success || !Number.isSafeInteger(version) || version < 1) {
    throw ApplicationFailure.nonRetryable(
      `Refusing an S3 key for lease ${JSON.stringify(leaseUuid).slice(0, 80)} v${version}`,
      ErrorType.InvalidReportKey,
    );
  }
  return { uuid: uuid.data, version };
}

/** The objects one report version publishes, each beside the CSV. */
export const ReportObject = { csv: '.csv', summary: '.summary.json', chart: '.html', focus: '.focus.csv' } as const;

/** Deterministic per (lease, version): a retried attempt overwrites, a re-run gets a new object. */
export const reportKey = (
  prefix: string,
  leaseUuid: string,
  version: number,
  object: keyof typeof ReportObject = 'csv',
) => {
  const k = keyParts(leaseUuid, version);
  return `${prefix}${k.uuid}/lease-costs-${k.uuid}-v${k.version}${ReportObject[object]}`;
};

export const stagingPrefix = (prefix: string, leaseUuid: string, version: number) => {
  const k = keyParts(leaseUuid, version);
  return `${prefix}${k.uuid}/staging/v${k.version}/`;
};

const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** The (service, region) pairs the `regions` segment saw, as rows: the resource plan's input. */
export const planKey = (prefix: string) => `${prefix}resource-plan.json`;
export const partKey = (prefix: string, segmentIndex: number, page: number) =>
  `${prefix}${pad(segmentIndex, 3)}/${pad(page, 6)}.json`;

/**
 * Every staged page, in order, with what it feeds: the report (its rows make the CSV) and the
 * daily series (the DAILY service-level rows: `service` pages for the older days, `regions`
 * pages for the resource-level days, so the series covers the whole window). A `regions` page
 * with `reportBefore` or `reportFrom` feeds the report with its rows outside the resource days
 * (see reportRowsOf).
 */
export const stagedPartsOf = (c: { stagingPrefix: string; segments: Segment[] }) =>
  c.segments.flatMap((seg, i) =>
    Array.from({ length: seg.pages }, (_, p) => ({
      key: partKey(c.stagingPrefix, i, p),
      report: seg.kind !== 'regions' || seg.reportBefore !== undefined || seg.reportFrom !== undefined,
      daily: seg.kind !== 'resource',
      ...(seg.kind === 'regions' && seg.reportBefore !== undefined ? { reportBefore: seg.reportBefore } : {}),
      ...(seg.kind === 'regions' && seg.reportFrom !== undefined ? { reportFrom: seg.reportFrom } : {}),
    })),
  );

/** The rows of a staged page that make the report. */
export function reportRowsOf<R extends { date?: string }>(
  part: { report: boolean; reportBefore?: string; reportFrom?: string },
  rows: R[],
): R[] {
  if (!part.report) return [];
  const { reportBefore: before, reportFrom: from } = part;
  if (before === undefined && from === undefined) return rows;
  return rows.filter(
    (r) =>
      r.date !== undefined && ((before !== undefined && r.date < before) || (from !== undefined && r.date >= from)),
  );
}
