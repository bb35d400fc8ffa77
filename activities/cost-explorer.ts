import {
  GetCostAndUsageCommand, GetCostAndUsageWithResourcesCommand,
  type CostExplorerClient, type Expression, type GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import { ApplicationFailure } from '@temporalio/common';
import {
  fallBackToServiceLevel, isCollected, partKey, planResourceSegments, SERVICE_LEVEL_RESOURCE, stagingPrefix, startCollection,
  type CollectionInput, type CollectionProgress, type CollectionResult, type CollectionStep, type Segment,
} from '../src/domain/collection';
import { addDays } from '../src/domain/billing-window';
import { ErrorType } from '../src/domain/errors';
import type { CostRow, DateRange } from '../src/domain/schemas';
import { activityTelemetry, type CostExplorerApi } from '../src/infrastructure/telemetry';

/** Where staged pages go: S3 for the worker, memory for the `report` command. */
export interface StagingStore {
  putPart(key: string, rows: CostRow[]): Promise<void>;
  getPart(key: string): Promise<CostRow[]>;
}

export interface CostExplorerDeps {
  /** A client whose credentials come from assuming the cost-reading role (refreshed by the SDK). */
  costExplorer: CostExplorerClient;
  roleArn: string;
  staging: StagingStore;
  keyPrefix: string;
  /** Resolves when the next Cost Explorer call may go out: the one limiter, shared by every caller. */
  acquireCallSlot: () => Promise<void>;
}

const API_OF: Record<Segment['kind'], CostExplorerApi> = {
  service: 'GetCostAndUsage', regions: 'GetCostAndUsage', resource: 'GetCostAndUsageWithResources',
};
const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation', 'UnrecognizedClientException']);
const REQUEST_INVALID = new Set(['ValidationException', 'InvalidNextTokenException', 'BillExpirationException', 'RequestChangedException']);

function filterFor(accountId: string, region?: string): Expression {
  const dimensions: Expression[] = [
    { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [accountId] } },
    { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
  ];
  if (region !== undefined) dimensions.push({ Dimensions: { Key: 'REGION', Values: [region] } });
  return { And: dimensions };
}

/** Both metrics from one query: the amortised one costs no extra call. */
const QUERY_METRICS = ['UnblendedCost', 'AmortizedCost'];

/** The `service` of a staged account-day row (collectAccountDailyPage): its resource name is the account. */
export const ACCOUNT_DAILY_SERVICE = '(account total)';

function rowsOf(segment: Segment, page: GetCostAndUsageCommandOutput): CostRow[] {
  const rows: CostRow[] = [];
  for (const period of page.ResultsByTime ?? []) {
    const date = period.TimePeriod?.Start;
    const end = period.TimePeriod?.End;
    // DAILY rows carry their day only; longer periods (MONTHLY resource rows) also their end.
    const when = date === undefined ? {} : end === undefined || end === addDays(date, 1) ? { date } : { date, periodEnd: end };
    for (const group of period.Groups ?? []) {
      const [service = '', second = ''] = group.Keys ?? [];
      const amount = group.Metrics?.UnblendedCost?.Amount;
      if (amount === undefined) continue;
      const amortized = group.Metrics?.AmortizedCost?.Amount;
      const money = amortized === undefined ? { cost: amount } : { cost: amount, amortizedCost: amortized };
      rows.push(segment.kind === 'resource'
        ? { service, resourceName: second, region: segment.region!, ...money, ...when }
        : { service, resourceName: SERVICE_LEVEL_RESOURCE, region: second, ...money, ...when });
    }
  }
  return rows;
}

type SlotHandler = (args: unknown) => Promise<unknown>;
interface SlotStack {
  addRelativeTo(step: (next: SlotHandler) => SlotHandler, options: { name: string; relation: 'after'; toMiddleware: string }): void;
}

export function createCostExplorerActivities(deps: CostExplorerDeps) {
  const query = (segment: Segment, progress: CollectionProgress, accountId: string) => {
    const common = {
      TimePeriod: { Start: segment.range.start, End: segment.range.end },
      Metrics: QUERY_METRICS,
      Filter: filterFor(accountId, segment.region),
      NextPageToken: progress.nextPageToken,
    };
    // Resources MONTHLY keeps their pages (and billed requests) to a minimum: the report needs
    // totals per resource. The service-level queries go DAILY: their few groups per day give the
    // daily series over the whole window for a few extra pages.
    return segment.kind === 'resource'
      ? deps.costExplorer.send(atCallSlot(new GetCostAndUsageWithResourcesCommand({
        ...common, Granularity: progress.resourceGranularity,
        GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }, { Type: 'DIMENSION', Key: 'RESOURCE_ID' }],
      })))
      : deps.costExplorer.send(atCallSlot(new GetCostAndUsageCommand({
        ...common, Granularity: 'DAILY',
        GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }, { Type: 'DIMENSION', Key: 'REGION' }],
      })));
  };

  /**
   * Waits for the call's slot as the last step before the request goes on the wire (after
   * signing): from the slot's check to the socket only promise callbacks run, so no other task of
   * the worker (a chart being rendered, say) can make the call late and bunch it with the next.
   */
  function atCallSlot<C extends GetCostAndUsageCommand | GetCostAndUsageWithResourcesCommand>(command: C): C {
    // The step passes any command's arguments through unchanged, so one untyped shape fits both.
    const stack = command.middlewareStack as unknown as SlotStack;
    stack.addRelativeTo((next) => async (args) => {
      await deps.acquireCallSlot();
      return next(args);
    }, { name: 'costExplorerCallSlot', relation: 'after', toMiddleware: 'httpSigningMiddleware' });
    return command;
  }

  /** What a refused resource query changes in the plan, or undefined when the error is the run's. */
  function recover(err: unknown, segment: Segment, progress: CollectionProgress): CollectionProgress | undefined {
    if (segment.kind !== 'resource') return undefined;
    const name = (err as Error).name;
    if (name === 'DataUnavailableException') {
      // Resource-level data is opt-in in the payer account: fall back to a marked service-level report.
      fallBackToServiceLevel(progress);
      return progress;
    }
    if (name === 'ValidationException' && progress.resourceGranularity === 'MONTHLY') {
      // Resource-level data is daily; some accounts refuse MONTHLY for it. Start this query over, daily.
      progress.resourceGranularity = 'DAILY';
      segment.pages = 0;
      progress.nextPageToken = undefined;
      return progress;
    }
    return undefined;
  }

  /**
   * The one pagination step for every Cost Explorer query: exactly one call, for the page at the
   * resume point, staged in S3 under a key of its position. A retry of the same step overwrites
   * the same part, so no page counts twice.
   */
  async function nextPage(input: CollectionInput, resumed: CollectionProgress | undefined): Promise<CollectionProgress> {
    const progress = resumed ? structuredClone(resumed) : startCollection(input);
    if (isCollected(progress)) return progress;
    progress.startedAtMs ??= Date.now();
    const segment = progress.segments[progress.segmentIndex]!;
    // Credentials first (the first call assumes the role); the slot is taken inside the send (atCallSlot).
    await deps.costExplorer.config.credentials();
    progress.calls++;
    activityTelemetry().costExplorerCall(API_OF[segment.kind]);
    let page: GetCostAndUsageCommandOutput;
    try {
      page = await query(segment, progress, input.accountId);
    } catch (err) {
      const recovered = recover(err, segment, progress);
      if (recovered) return recovered;
      throw classify(err, deps.roleArn);
    }
    const rows = rowsOf(segment, page);
    if (segment.kind === 'regions') progress.regions = [...new Set([...progress.regions, ...rows.map((r) => r.region)])];
    const prefix = stagingPrefix(deps.keyPrefix, input.leaseUuid, input.version);
    await deps.staging.putPart(partKey(prefix, progress.segmentIndex, segment.pages), rows);
    segment.pages++;
    progress.pages++;
    progress.nextPageToken = page.NextPageToken || undefined;
    if (!progress.nextPageToken) {
      if (segment.kind === 'regions') planResourceSegments(progress, segment.range);
      progress.segmentIndex++;
    }
    if (isCollected(progress)) activityTelemetry().collected(input.leaseUuid, Date.now() - progress.startedAtMs, progress);
    return progress;
  }

  const resultOf = (input: CollectionInput, p: CollectionProgress): CollectionResult => ({
    stagingPrefix: stagingPrefix(deps.keyPrefix, input.leaseUuid, input.version),
    segments: p.segments, pages: p.pages, calls: p.calls, resourceLevel: p.resourceLevel,
  });

  return {
    /**
     * One page of the month's daily costs of every account, grouped by LINKED_ACCOUNT (one query
     * for all accounts, Usage only as every report of ours), staged in S3 like a lease's pages; the
     * rows carry the account as their resource name. One call per activity, through the pacer.
     */
    async collectAccountDailyPage(input: { range: DateRange; /** Under S3_KEY_PREFIX. */ stagingPrefix: string; page: number; nextPageToken?: string }): Promise<{ nextPageToken?: string }> {
      await deps.costExplorer.config.credentials();
      activityTelemetry().costExplorerCall('GetCostAndUsage');
      let page: GetCostAndUsageCommandOutput;
      try {
        page = await deps.costExplorer.send(atCallSlot(new GetCostAndUsageCommand({
          TimePeriod: { Start: input.range.start, End: input.range.end }, Granularity: 'DAILY', Metrics: ['UnblendedCost'],
          Filter: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
          GroupBy: [{ Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' }],
          NextPageToken: input.nextPageToken,
        })));
      } catch (err) {
        throw classify(err, deps.roleArn);
      }
      const rows: CostRow[] = [];
      for (const period of page.ResultsByTime ?? []) {
        for (const group of period.Groups ?? []) {
          const amount = group.Metrics?.UnblendedCost?.Amount;
          const accountId = group.Keys?.[0];
          if (amount === undefined || accountId === undefined || period.TimePeriod?.Start === undefined) continue;
          rows.push({ resourceName: accountId, service: ACCOUNT_DAILY_SERVICE, region: '', cost: amount, date: period.TimePeriod.Start });
        }
      }
      await deps.staging.putPart(partKey(`${deps.keyPrefix}${input.stagingPrefix}`, 0, input.page), rows);
      return page.NextPageToken ? { nextPageToken: page.NextPageToken } : {};
    },

    /** One call per activity, so a crash or a retry repeats at most the page in flight. */
    async collectCostsPage(input: CollectionInput, resumed?: CollectionProgress): Promise<CollectionStep> {
      const progress = await nextPage(input, resumed);
      return isCollected(progress) ? { done: true, result: resultOf(input, progress) } : { done: false, progress };
    },
  };
}

/** Throttling and 5xx stay retryable for the engine; errors that a retry cannot fix are named and final. */
export function classify(err: unknown, roleArn: string): unknown {
  const e = err as Error;
  if (ACCESS_DENIED.has(e.name)) {
    return ApplicationFailure.nonRetryable(`Access denied reading Cost Explorer through role ${roleArn}: ${e.message}`, ErrorType.CostExplorerAccessDenied);
  }
  if (REQUEST_INVALID.has(e.name)) {
    return ApplicationFailure.nonRetryable(`Cost Explorer rejected the request: ${e.name}: ${e.message}`, ErrorType.CostExplorerRequestInvalid);
  }
  return err;
}
