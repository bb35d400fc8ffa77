import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { ErrorType } from './errors';
import { DateRange, LeaseUuid } from './schemas';

// What a collection reads from Cost Explorer, and where its pages are staged. Pure: the plan, the
// resume point and the staging keys; activities/cost-explorer.ts does the calls.

/**
 * - `service`: GetCostAndUsage by SERVICE and REGION, DAILY, for days beyond the resource-level horizon.
 * - `regions`: the same query over the resource-level days; it tells which regions to ask for
 *   resources, gives those days' daily series, and its rows become the report's if
 *   resource-level data turns out to be off.
 * - `resource`: GetCostAndUsageWithResources by SERVICE and RESOURCE_ID in one region: the only
 *   way to know each resource's region, since a query takes two GroupBy keys at most.
 */
export const SegmentKind = z.enum(['service', 'regions', 'resource']);
export type SegmentKind = z.infer<typeof SegmentKind>;

export const Granularity = z.enum(['MONTHLY', 'DAILY']);
export type Granularity = z.infer<typeof Granularity>;

export const Segment = z.object({
  kind: SegmentKind,
  range: DateRange,
  region: z.string().optional(),
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
  /** When the first call went out (epoch ms), for the collection-duration metric. */
  startedAtMs: z.number().optional(),
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
});
export type CollectionResult = z.infer<typeof CollectionResult>;

export type CollectionStep = { done: false; progress: CollectionProgress } | { done: true; result: CollectionResult };

export const SERVICE_LEVEL_RESOURCE = '(service level)';

export function startCollection(input: CollectionInput): CollectionProgress {
  const segments: Segment[] = [];
  if (input.serviceLevel) segments.push({ kind: 'service', range: input.serviceLevel, pages: 0 });
  if (input.resourceLevel) segments.push({ kind: 'regions', range: input.resourceLevel, pages: 0 });
  return {
    segments, segmentIndex: 0, pages: 0, calls: 0, regions: [],
    resourceLevel: input.resourceLevel ? 'used' : 'not-needed', resourceGranularity: 'MONTHLY',
  };
}

export const isCollected = (p: CollectionProgress) => p.segmentIndex >= p.segments.length;

/** After the `regions` segment: one resource segment per region it found, in a stable order. */
export function planResourceSegments(progress: CollectionProgress, range: DateRange): void {
  for (const region of [...progress.regions].sort()) progress.segments.push({ kind: 'resource', range, region, pages: 0 });
}

/** Resource-level data is off: the `regions` rows are the report for those days, at no extra call. */
export function fallBackToServiceLevel(progress: CollectionProgress): void {
  progress.segments = progress.segments.filter((s) => s.kind !== 'resource').map((s) => (s.kind === 'regions' ? { ...s, kind: 'service' } : s));
  progress.segmentIndex = progress.segments.length;
  progress.nextPageToken = undefined;
  progress.resourceLevel = 'unavailable';
}

/** Keys are built only from a validated uuid, version and positions: nothing from Cost Explorer reaches a key. */
function keyParts(leaseUuid: string, version: number): { uuid: string; version: number } {
  const uuid = LeaseUuid.safeParse(leaseUuid);
  if (!uuid.success || !Number.isSafeInteger(version) || version < 1) {
    throw ApplicationFailure.nonRetryable(`Refusing an S3 key for lease ${JSON.stringify(leaseUuid).slice(0, 80)} v${version}`, ErrorType.InvalidReportKey);
  }
  return { uuid: uuid.data, version };
}

/** The objects one report version publishes, each beside the CSV. */
export const ReportObject = { csv: '.csv', summary: '.summary.json', chart: '.html', focus: '.focus.csv' } as const;

/** Deterministic per (lease, version): a retried attempt overwrites, a re-run gets a new object. */
export const reportKey = (prefix: string, leaseUuid: string, version: number, object: keyof typeof ReportObject = 'csv') => {
  const k = keyParts(leaseUuid, version);
  return `${prefix}${k.uuid}/lease-costs-${k.uuid}-v${k.version}${ReportObject[object]}`;
};

export const stagingPrefix = (prefix: string, leaseUuid: string, version: number) => {
  const k = keyParts(leaseUuid, version);
  return `${prefix}${k.uuid}/staging/v${k.version}/`;
};

const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const partKey = (prefix: string, segmentIndex: number, page: number) => `${prefix}${pad(segmentIndex, 3)}/${pad(page, 6)}.json`;

/** The staged page keys whose rows make the report, in order (`regions` pages are not in it). */
export const partKeysOf = (c: { stagingPrefix: string; segments: Segment[] }) =>
  c.segments.flatMap((seg, i) => (seg.kind === 'regions' ? [] : Array.from({ length: seg.pages }, (_, p) => partKey(c.stagingPrefix, i, p))));

/**
 * Every staged page, in order, with what it feeds: the report (its rows make the CSV) and the
 * daily series (the DAILY service-level rows: `service` pages for the older days, `regions`
 * pages for the resource-level days, so the series covers the whole window).
 */
export const stagedPartsOf = (c: { stagingPrefix: string; segments: Segment[] }) =>
  c.segments.flatMap((seg, i) => Array.from({ length: seg.pages }, (_, p) => ({
    key: partKey(c.stagingPrefix, i, p), report: seg.kind !== 'regions', daily: seg.kind !== 'resource',
  })));
