import {
  GetCostAndUsageCommand, GetCostAndUsageWithResourcesCommand,
  type CostExplorerClient, type Expression, type GetCostAndUsageCommandOutput, type GroupDefinition,
} from '@aws-sdk/client-cost-explorer';
import { activityInfo, ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { CostRow, DateRange } from '../src/domain/schemas';
import { activityTelemetry, type CostExplorerApi } from '../src/infrastructure/telemetry';
import { partKey, stagingPrefix, type StagingStore } from './s3';

export interface CostExplorerDeps {
  /** A client whose credentials come from assuming the cost-reading role (refreshed by the SDK). */
  costExplorer: CostExplorerClient;
  roleArn: string;
  staging: StagingStore;
  keyPrefix: string;
  /** Resolves when the next Cost Explorer call may go out (shared rate limit). */
  acquireCallSlot?: () => Promise<void>;
}

export const SERVICE_LEVEL_RESOURCE = '(service level)';

type SegmentKind = 'resource' | 'service';
const API_OF: Record<SegmentKind, CostExplorerApi> = { resource: 'GetCostAndUsageWithResources', service: 'GetCostAndUsage' };
/** One query over one date range; `pages` counts the staged parts written for it. */
interface Segment { kind: SegmentKind; range: DateRange; pages: number }

export interface CollectionInput {
  leaseUuid: string;
  accountId: string;
  version: number;
  resourceLevel: DateRange | null;
  serviceLevel: DateRange | null;
}

export interface CollectionResult {
  /** Where the staged pages are: keys derive from it, so the payload stays small at any size. */
  stagingPrefix: string;
  segments: Segment[];
  pages: number;
  calls: number;
  /** 'unavailable' when resource-level data was asked for but Cost Explorer refused it. */
  resourceLevel: 'used' | 'not-needed' | 'unavailable';
}

/** The resume point between calls, small on purpose: it travels as heartbeat details and activity payloads. */
export interface CollectionProgress {
  segments: Segment[];
  segmentIndex: number;
  nextPageToken?: string;
  pages: number;
  calls: number;
  resourceLevel: CollectionResult['resourceLevel'];
  /** When the first call went out (epoch ms), for the collection-duration metric. */
  startedAtMs?: number;
}

export type CollectionStep = { done: false; progress: CollectionProgress } | { done: true; result: CollectionResult };

const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation', 'UnrecognizedClientException']);
const REQUEST_INVALID = new Set(['ValidationException', 'InvalidNextTokenException', 'BillExpirationException', 'RequestChangedException']);

function filterFor(accountId: string): Expression {
  return {
    And: [
      { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [accountId] } },
      { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
    ],
  };
}

const regionOf = (resourceId: string) => /^arn:[^:]+:[^:]*:([a-z]{2}(-[a-z]+)+-\d+):/.exec(resourceId)?.[1] ?? '';

function rowsOf(kind: SegmentKind, page: GetCostAndUsageCommandOutput): CostRow[] {
  const rows: CostRow[] = [];
  for (const period of page.ResultsByTime ?? []) {
    for (const group of period.Groups ?? []) {
      const [service = '', second = ''] = group.Keys ?? [];
      const amount = group.Metrics?.UnblendedCost?.Amount;
      if (amount === undefined) continue;
      rows.push(kind === 'resource'
        ? { service, resourceName: second, region: regionOf(second), cost: amount }
        : { service, resourceName: SERVICE_LEVEL_RESOURCE, region: second, cost: amount });
    }
  }
  return rows;
}

function plan(input: CollectionInput): Segment[] {
  const segments: Segment[] = [];
  if (input.serviceLevel) segments.push({ kind: 'service', range: input.serviceLevel, pages: 0 });
  if (input.resourceLevel) segments.push({ kind: 'resource', range: input.resourceLevel, pages: 0 });
  return segments;
}


export function createCostExplorerActivities(deps: CostExplorerDeps) {
  const query = async (segment: Segment, accountId: string, token: string | undefined) => {
    await deps.acquireCallSlot?.();
    const common = {
      TimePeriod: { Start: segment.range.start, End: segment.range.end },
      // MONTHLY keeps pages (and billed requests) to a minimum: we only need totals per group.
      Granularity: 'MONTHLY' as const,
      Metrics: ['UnblendedCost'],
      Filter: filterFor(accountId),
      NextPageToken: token,
    };
    const groupBy = (second: string): GroupDefinition[] =>
      [{ Type: 'DIMENSION', Key: 'SERVICE' }, { Type: 'DIMENSION', Key: second }];
    return segment.kind === 'resource'
      ? deps.costExplorer.send(new GetCostAndUsageWithResourcesCommand({ ...common, GroupBy: groupBy('RESOURCE_ID') }))
      : deps.costExplorer.send(new GetCostAndUsageCommand({ ...common, GroupBy: groupBy('REGION') }));
  };

  const isDone = (p: CollectionProgress) => p.segmentIndex >= p.segments.length;
  const resultOf = (input: CollectionInput, p: CollectionProgress): CollectionResult => ({
    stagingPrefix: stagingPrefix(deps.keyPrefix, input.leaseUuid, input.version),
    segments: p.segments, pages: p.pages, calls: p.calls, resourceLevel: p.resourceLevel,
  });

  /**
   * The one pagination step for every Cost Explorer query: exactly one call, fetching the page at
   * the resume point and staging it in S3 (or switching to service level when resource-level data
   * is unavailable). A retry of the same step overwrites the same part, so no page counts twice.
   */
  async function nextPage(input: CollectionInput, resumed: CollectionProgress | undefined): Promise<CollectionProgress> {
    const progress: CollectionProgress = resumed ? structuredClone(resumed) : {
      segments: plan(input), segmentIndex: 0, pages: 0, calls: 0,
      resourceLevel: input.resourceLevel ? 'used' : 'not-needed',
    };
    if (isDone(progress)) return progress;
    progress.startedAtMs ??= Date.now();
    const segment = progress.segments[progress.segmentIndex]!;
    progress.calls++;
    activityTelemetry().costExplorerCall(API_OF[segment.kind]);
    let page: GetCostAndUsageCommandOutput;
    try {
      page = await query(segment, input.accountId, progress.nextPageToken);
    } catch (err) {
      if (segment.kind === 'resource' && (err as Error).name === 'DataUnavailableException') {
        // Resource-level data is opt-in in the payer account: fall back to a marked service-level report.
        progress.segments = [...progress.segments.slice(0, progress.segmentIndex), { kind: 'service', range: segment.range, pages: 0 }];
        progress.nextPageToken = undefined;
        progress.resourceLevel = 'unavailable';
        return progress;
      }
      throw classify(err, deps.roleArn);
    }
    const prefix = stagingPrefix(deps.keyPrefix, input.leaseUuid, input.version);
    await deps.staging.putPart(partKey(prefix, segment, segment.pages), rowsOf(segment.kind, page));
    segment.pages++;
    progress.pages++;
    progress.nextPageToken = page.NextPageToken || undefined;
    if (!progress.nextPageToken) progress.segmentIndex++;
    if (isDone(progress)) activityTelemetry().collected(input.leaseUuid, Date.now() - progress.startedAtMs, progress);
    return progress;
  }

  /** Every page in one go, resuming from `resumed`; `onPage` records each resume point. */
  async function collect(input: CollectionInput, resumed: CollectionProgress | undefined, onPage: (p: CollectionProgress) => void): Promise<CollectionResult> {
    let progress = resumed;
    do {
      progress = await nextPage(input, progress);
      onPage(progress);
    } while (!isDone(progress));
    return resultOf(input, progress);
  }

  return {
    collect,
    activities: {
      /** One call per activity, on the rate-limited Cost Explorer task queue (collectCostsWorkflow). */
      async collectCostsPage(input: CollectionInput, resumed?: CollectionProgress): Promise<CollectionStep> {
        const progress = await nextPage(input, resumed);
        return isDone(progress) ? { done: true, result: resultOf(input, progress) } : { done: false, progress };
      },
      /** The whole collection in one heartbeating activity: histories recorded before collectCostsWorkflow replay through it. */
      async collectCosts(input: CollectionInput): Promise<CollectionResult> {
        return collect(input, activityInfo().heartbeatDetails as CollectionProgress | undefined, (p) => heartbeat(p));
      },
    },
  };
}

/** Throttling and 5xx stay retryable for the engine; errors that a retry cannot fix are named and final. */
export function classify(err: unknown, roleArn: string): unknown {
  const e = err as Error & { $metadata?: { httpStatusCode?: number } };
  if (ACCESS_DENIED.has(e.name)) {
    return ApplicationFailure.nonRetryable(`Access denied reading Cost Explorer through role ${roleArn}: ${e.message}`, 'CostExplorerAccessDenied');
  }
  if (REQUEST_INVALID.has(e.name)) {
    return ApplicationFailure.nonRetryable(`Cost Explorer rejected the request: ${e.name}: ${e.message}`, 'CostExplorerRequestInvalid');
  }
  return err;
}
