import {
  GetCostAndUsageCommand,
  GetCostAndUsageWithResourcesCommand,
  type CostExplorerClient,
  type Expression,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageCommandOutput,
  type GetCostAndUsageWithResourcesCommandInput,
} from '@aws-sdk/client-cost-explorer';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  fallBackToServiceLevel,
  isCollected,
  narrowResourceDays,
  partKey,
  planKey,
  planResourceSegments,
  resourcePlan,
  SERVICE_LEVEL_RESOURCE,
  stagingPrefix,
  startCollection,
  type CollectionInput,
  type CollectionProgress,
  type CollectionResult,
  type CollectionStep,
  type Granularity,
  type Segment,
} from '../src/domain/collection';
import { addDays, monthOfMostDays, RESOURCE_LEVEL_DAYS, utcDay } from '../src/domain/billing-window';
import { DEFAULT_COST_SCOPE, RECORD_TYPES_OF, type CostScope } from '../src/domain/cost-scope';
import { ErrorType } from '../src/domain/errors';
import type { CostRow, DateRange } from '../src/domain/schemas';
import { activityTelemetry, type CostExplorerApi } from '../src/infrastructure/telemetry';
import type { StagingStore } from './staging-store';

export interface CostExplorerDeps {
  /** A client whose credentials come from assuming the cost-reading role (refreshed by the SDK). */
  costExplorer: CostExplorerClient;
  roleArn: string;
  staging: StagingStore;
  keyPrefix: string;
  /**
   * Resolves when the next Cost Explorer call may go out: the one limiter, shared by every caller.
   * The key is the page's task-queue priority: a process's waiting calls share slots by it.
   */
  acquireCallSlot: (priorityKey?: number) => Promise<void>;
  /** The clock that says which day "today" is for Cost Explorer's date rules (tests move it). */
  now?: () => number;
  /** Which record types new collections count (COST_SCOPE); default `usage`. */
  costScope?: CostScope;
}

const API_OF: Record<Segment['kind'], CostExplorerApi> = {
  service: 'GetCostAndUsage',
  regions: 'GetCostAndUsage',
  resource: 'GetCostAndUsageWithResources',
};
const ACCESS_DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
]);
const REQUEST_INVALID = new Set([
  'ValidationException',
  'InvalidNextTokenException',
  'BillExpirationException',
  'RequestChangedException',
]);
/**
 * Refusals of a resource-level query that no retry of the same query fixes: resource-level data
 * off (DataUnavailableException), the role lacking ce:GetCostAndUsageWithResources, or a query
 * shape Cost Explorer does not take (its API reference asks for a SERVICE expression in the
 * filter; Steampipe sends one LINKED_ACCOUNT; nothing here can ask AWS which holds). Each one
 * makes those days service level instead of failing the lease.
 */
const RESOURCE_LEVEL_REFUSALS = new Set(['DataUnavailableException', 'ValidationException', ...ACCESS_DENIED]);
/**
 * The refusal of a too-old resource start, as Cost Explorer words it (boto/boto3#2369: "Start date
 * is more than 14 days ago for hourly granularity…"; aws/aws-sdk-net#1773: "start date is too
 * old for hourly…"): the start moves, the granularity stays.
 */
const START_TOO_OLD = /more than 14 days ago|too old/i;
/** MONTHLY refused as such (the message names it): the one refusal that asks for DAILY. */
const MONTHLY_REFUSED = /\bMONTHLY\b/;

/** `And` and `Or` take at least two operands ("And expression must have at least 2 operands"). */
const and = (parts: Expression[]): Expression => (parts.length === 1 ? parts[0]! : { And: parts });
const or = (parts: Expression[]): Expression => (parts.length === 1 ? parts[0]! : { Or: parts });
const dimension = (Key: 'LINKED_ACCOUNT' | 'RECORD_TYPE' | 'REGION' | 'SERVICE', Values: string[]): Expression => ({
  Dimensions: { Key, Values },
});

/** What a query is about: its dates, and for resources one region or a plan of services per region. */
interface QuerySegment {
  range: DateRange;
  region?: string;
  byRegion?: Record<string, string[]>;
}

/**
 * The one record-type filter of every cost query (collection, the group report's account query,
 * `lease-costs check`). `usage` is the replaced system's `RECORD_TYPE = Usage`; the other scope is
 * the ISB's expression as it sends it (aws-solutions/innovation-sandbox-on-aws,
 * source/common/isb-services/cost-explorer-service.ts, getGetCostAndUsageCommandInput).
 */
export function recordTypeFilter(scope: CostScope): Expression {
  const { include, recordTypes } = RECORD_TYPES_OF[scope];
  if (include) return dimension('RECORD_TYPE', recordTypes);
  return { Not: { Dimensions: { Key: 'RECORD_TYPE', Values: recordTypes, MatchOptions: ['EQUALS'] } } };
}

function filterFor(accountId: string, scope: CostScope, segment: Omit<QuerySegment, 'range'>): Expression {
  const parts = [dimension('LINKED_ACCOUNT', [accountId]), recordTypeFilter(scope)];
  if (segment.byRegion) {
    const regions = Object.keys(segment.byRegion).sort();
    // SERVICE at the top, as the API reference asks of resource queries; the per-region pairs below it.
    parts.push(dimension('SERVICE', regions.flatMap((r) => segment.byRegion![r]!).sort()));
    if (regions.length === 1) parts.push(dimension('REGION', regions));
    else
      parts.push(or(regions.map((r) => and([dimension('REGION', [r]), dimension('SERVICE', segment.byRegion![r]!)]))));
  } else if (segment.region !== undefined) {
    parts.push(dimension('REGION', [segment.region]));
  }
  return and(parts);
}

/** Both metrics from one query: the amortised one costs no extra call. */
const QUERY_METRICS = ['UnblendedCost', 'AmortizedCost'];

/** The `service` of a staged account-day row (collectAccountDailyPage): its resource name is the account. */
export const ACCOUNT_DAILY_SERVICE = '(account total)';

const common = (segment: QuerySegment, accountId: string, scope: CostScope, nextPageToken?: string) => ({
  TimePeriod: { Start: segment.range.start, End: segment.range.end },
  Metrics: QUERY_METRICS,
  Filter: filterFor(accountId, scope, segment),
  NextPageToken: nextPageToken,
});

/**
 * The requests of collection, one builder for it and for `lease-costs check`, so the check sends
 * what collection sends. The service-level queries (`service`, `regions`) go DAILY: their few
 * groups per day give the daily series over the whole window for a few extra pages.
 */
export const serviceLevelQuery = (
  segment: QuerySegment,
  accountId: string,
  scope: CostScope,
  nextPageToken?: string,
): GetCostAndUsageCommandInput => ({
  ...common(segment, accountId, scope, nextPageToken),
  Granularity: 'DAILY',
  GroupBy: [
    { Type: 'DIMENSION', Key: 'SERVICE' },
    { Type: 'DIMENSION', Key: 'REGION' },
  ],
});

/** Resources go MONTHLY until refused: fewest pages, and the report needs totals per resource. */
export const resourceLevelQuery = (
  segment: QuerySegment,
  accountId: string,
  scope: CostScope,
  granularity: Granularity,
  nextPageToken?: string,
): GetCostAndUsageWithResourcesCommandInput => ({
  ...common(segment, accountId, scope, nextPageToken),
  Granularity: granularity,
  GroupBy: [
    { Type: 'DIMENSION', Key: 'SERVICE' },
    { Type: 'DIMENSION', Key: 'RESOURCE_ID' },
  ],
});

/** The first day of the month after `day`'s: Cost Explorer refuses an end past it ("end date past the beginning of next month", aws/aws-sdk-js#2732). */
function firstOfNextMonth(day: string): string {
  const [y, m] = day.split('-').map(Number) as [number, number];
  return `${m === 12 ? y + 1 : y}-${String(m === 12 ? 1 : m + 1).padStart(2, '0')}-01`;
}

/**
 * A segment's dates as Cost Explorer takes them on `today`: the end at most the first of next
 * month (a collectNow near a month's end asks for days that have not begun), a resource start
 * at most 13 days back (the plan was made on an earlier day). Undefined when nothing is left.
 */
export function clampedRange(segment: Pick<Segment, 'kind' | 'range'>, today: string): DateRange | undefined {
  const limit = firstOfNextMonth(today);
  const end = segment.range.end > limit ? limit : segment.range.end;
  const earliest = addDays(today, -(RESOURCE_LEVEL_DAYS - 1));
  const start = segment.kind === 'resource' && segment.range.start < earliest ? earliest : segment.range.start;
  return start < end ? { start, end } : undefined;
}

const pairsOf = (rows: CostRow[]): [string, string][] => rows.map((r) => [r.service, r.region]);

/** A resource row whose region the query cannot tell: the query's rows are not usable. */
class UnplacedRow extends Error {
  override name = 'UnplacedRow';
}

function rowsOf(segment: Segment, query: QuerySegment, page: GetCostAndUsageCommandOutput): CostRow[] {
  const regionOf = new Map<string, string>();
  for (const [region, services] of Object.entries(query.byRegion ?? {}))
    for (const s of services) regionOf.set(s, region);
  const rows: CostRow[] = [];
  for (const period of page.ResultsByTime ?? []) {
    const date = period.TimePeriod?.Start;
    const end = period.TimePeriod?.End;
    // DAILY rows carry their day only; longer periods (MONTHLY resource rows) also their end.
    const when =
      date === undefined ? {} : end === undefined || end === addDays(date, 1) ? { date } : { date, periodEnd: end };
    for (const group of period.Groups ?? []) {
      const [service = '', second = ''] = group.Keys ?? [];
      const amount = group.Metrics?.UnblendedCost?.Amount;
      if (amount === undefined) continue;
      const amortized = group.Metrics?.AmortizedCost?.Amount;
      const money = amortized === undefined ? { cost: amount } : { cost: amount, amortizedCost: amortized };
      if (segment.kind !== 'resource') {
        rows.push({ service, resourceName: SERVICE_LEVEL_RESOURCE, region: second, ...money, ...when });
        continue;
      }
      const region = segment.region ?? regionOf.get(service);
      // The filter asked each service in one region: a row of another service has no known region.
      if (region === undefined)
        throw new UnplacedRow(
          `Cost Explorer returned service ${JSON.stringify(service)}, which the resource query did not ask for (filter not applied?)`,
        );
      rows.push({ service, resourceName: second, region, ...money, ...when });
    }
  }
  return rows;
}

type SlotHandler = (args: unknown) => Promise<unknown>;
interface SlotStack {
  addRelativeTo(
    step: (next: SlotHandler) => SlotHandler,
    options: { name: string; relation: 'after'; toMiddleware: string },
  ): void;
}

/** The running page's task-queue priority key; none outside an activity (the `report` command). */
function pagePriorityKey(): number | undefined {
  try {
    return Context.current().info.priority?.priorityKey;
  } catch {
    return undefined;
  }
}

export function createCostExplorerActivities(deps: CostExplorerDeps) {
  const now = deps.now ?? Date.now;
  const newScope = deps.costScope ?? DEFAULT_COST_SCOPE;
  const query = (segment: Segment, about: QuerySegment, progress: CollectionProgress, accountId: string) => {
    const scope = progress.costScope ?? DEFAULT_COST_SCOPE;
    return segment.kind === 'resource'
      ? deps.costExplorer.send(
          atCallSlot(
            new GetCostAndUsageWithResourcesCommand(
              resourceLevelQuery(about, accountId, scope, progress.resourceGranularity, progress.nextPageToken),
            ),
          ),
        )
      : deps.costExplorer.send(
          atCallSlot(new GetCostAndUsageCommand(serviceLevelQuery(about, accountId, scope, progress.nextPageToken))),
        );
  };

  /**
   * Waits for the call's slot as the last step before the request goes on the wire (after
   * signing): from the slot's check to the socket only promise callbacks run, so no other task of
   * the worker (a chart being rendered, say) can make the call late and bunch it with the next.
   */
  function atCallSlot<C extends GetCostAndUsageCommand | GetCostAndUsageWithResourcesCommand>(command: C): C {
    // The step passes any command's arguments through unchanged, so one untyped shape fits both.
    const stack = command.middlewareStack as unknown as SlotStack;
    stack.addRelativeTo(
      (next) => async (args) => {
        await deps.acquireCallSlot(pagePriorityKey());
        return next(args);
      },
      { name: 'costExplorerCallSlot', relation: 'after', toMiddleware: 'httpSigningMiddleware' },
    );
    return command;
  }

  /** What a refused resource query changes in the plan, or undefined when the error is the run's. */
  function recover(
    err: unknown,
    segment: Segment,
    progress: CollectionProgress,
    input: CollectionInput,
  ): CollectionProgress | undefined {
    if (segment.kind !== 'resource') return undefined;
    const { name, message } = err as Error;
    if (name === 'ValidationException' && START_TOO_OLD.test(message)) {
      // Another midnight passed since this query's first page: start it (and the others) later.
      const range = clampedRange(segment, utcDay(new Date(now()).toISOString()));
      if (range && range.start > segment.range.start) {
        narrowResourceDays(progress, { ...segment.range, start: range.start });
        return progress;
      }
    }
    if (name === 'ValidationException' && MONTHLY_REFUSED.test(message) && progress.resourceGranularity === 'MONTHLY') {
      // Resource-level data is daily; an account that refuses MONTHLY for it gets DAILY from here on.
      progress.resourceGranularity = 'DAILY';
      segment.pages = 0;
      progress.nextPageToken = undefined;
      return progress;
    }
    if (RESOURCE_LEVEL_REFUSALS.has(name)) return refuseResourceLevel(progress, input, err as Error);
    return undefined;
  }

  /** The resource-level days become service level, logged and counted: never a failed lease. */
  function refuseResourceLevel(
    progress: CollectionProgress,
    input: CollectionInput,
    err: Pick<Error, 'name' | 'message'>,
  ): CollectionProgress {
    const refusal = { error: err.name, message: err.message.slice(0, 500) };
    activityTelemetry().resourceLevelRefused(input.leaseUuid, refusal);
    fallBackToServiceLevel(progress, refusal);
    return progress;
  }

  /**
   * After the `regions` segment: its staged rows say which services ran in which regions. The
   * pairs are staged (a retry writes the same) and the resource segments refer to the plan by
   * number, so no service name rides in the resume point.
   */
  async function planResources(progress: CollectionProgress, regionsIndex: number, prefix: string): Promise<void> {
    const segment = progress.segments[regionsIndex]!;
    const seen = new Map<string, CostRow>();
    for (let p = 0; p < segment.pages; p++) {
      for (const r of await deps.staging.getPart(partKey(prefix, regionsIndex, p))) {
        seen.set(JSON.stringify([r.service, r.region]), {
          service: r.service,
          region: r.region,
          resourceName: SERVICE_LEVEL_RESOURCE,
          cost: '0',
        });
      }
    }
    const pairs = [...seen.values()];
    await deps.staging.putPart(planKey(prefix), pairs);
    planResourceSegments(progress, segment.range, resourcePlan(pairsOf(pairs)).length);
  }

  /** Fixes a segment's dates at its first page (later pages must repeat them: tokens are bound to the request). */
  function settleDates(progress: CollectionProgress, input: CollectionInput): void {
    const segment = progress.segments[progress.segmentIndex]!;
    if (segment.pages > 0 || progress.nextPageToken !== undefined) return;
    const range = clampedRange(segment, utcDay(new Date(now()).toISOString()));
    if (segment.kind === 'resource' && !range) {
      // Every resource-level day is now older than 14 days (the run waited that long): service level.
      refuseResourceLevel(progress, input, {
        name: 'ResourceDaysExpired',
        message: `resource-level days ${segment.range.start} to ${segment.range.end} are no longer within the last 14 days`,
      });
      return;
    }
    if (segment.kind === 'resource' && range && range.start > segment.range.start) {
      narrowResourceDays(progress, { ...segment.range, start: range.start });
      return settleDates(progress, input);
    }
    if (range) segment.range = range;
  }

  /**
   * The one pagination step for every Cost Explorer query: exactly one call, for the page at the
   * resume point, staged in S3 under a key of its position. A retry of the same step overwrites
   * the same part, so no page counts twice.
   */
  async function nextPage(
    input: CollectionInput,
    resumed: CollectionProgress | undefined,
  ): Promise<CollectionProgress> {
    // The scope is fixed at a collection's first page, so a changed COST_SCOPE never mixes two in one
    // report; a resume point without one comes from before the setting, when every query was `usage`.
    const progress = resumed ? structuredClone(resumed) : { ...startCollection(input), costScope: newScope };
    if (isCollected(progress)) return progress;
    progress.startedAtMs ??= Date.now();
    settleDates(progress, input);
    if (isCollected(progress)) return progress;
    const segment = progress.segments[progress.segmentIndex]!;
    // Credentials first (the first call assumes the role); the slot is taken inside the send (atCallSlot).
    await deps.costExplorer.config.credentials();
    progress.calls++;
    activityTelemetry().costExplorerCall(API_OF[segment.kind]);
    const prefix = stagingPrefix(deps.keyPrefix, input.leaseUuid, input.version);
    const byRegion =
      segment.plan === undefined
        ? undefined
        : resourcePlan(pairsOf(await deps.staging.getPart(planKey(prefix))))[segment.plan];
    const about: QuerySegment = { range: segment.range, region: segment.region, byRegion };
    let page: GetCostAndUsageCommandOutput;
    try {
      page = await query(segment, about, progress, input.accountId);
    } catch (err) {
      const recovered = recover(err, segment, progress, input);
      if (recovered) return recovered;
      throw err;
    }
    let rows: CostRow[];
    try {
      rows = rowsOf(segment, about, page);
    } catch (err) {
      if (!(err instanceof UnplacedRow)) throw err;
      return refuseResourceLevel(progress, input, err);
    }
    if (segment.kind === 'regions')
      progress.regions = [...new Set([...progress.regions, ...rows.map((r) => r.region)])];
    await deps.staging.putPart(partKey(prefix, progress.segmentIndex, segment.pages), rows);
    segment.pages++;
    progress.pages++;
    progress.nextPageToken = page.NextPageToken || undefined;
    // More than a page of resources across a month boundary, where most come twice (once per
    // month): the month with more of the days keeps resource detail, the other's are service level.
    const spills = segment.kind === 'resource' && segment.pages === 1 && progress.nextPageToken !== undefined;
    const narrowed = spills && progress.resourceGranularity === 'MONTHLY' ? monthOfMostDays(segment.range) : undefined;
    if (narrowed) {
      narrowResourceDays(progress, narrowed);
      return progress;
    }
    if (!progress.nextPageToken) {
      if (segment.kind === 'regions') await planResources(progress, progress.segmentIndex, prefix);
      progress.segmentIndex++;
    }
    if (isCollected(progress))
      activityTelemetry().collected(input.leaseUuid, Date.now() - progress.startedAtMs, progress);
    return progress;
  }

  const resultOf = (input: CollectionInput, p: CollectionProgress): CollectionResult => ({
    stagingPrefix: stagingPrefix(deps.keyPrefix, input.leaseUuid, input.version),
    segments: p.segments,
    pages: p.pages,
    calls: p.calls,
    resourceLevel: p.resourceLevel,
    costScope: p.costScope ?? DEFAULT_COST_SCOPE,
    ...(p.refusal ? { refusal: p.refusal } : {}),
  });

  return {
    /**
     * One page of the month's daily costs of every account, grouped by LINKED_ACCOUNT (one query
     * for all accounts, the record types of COST_SCOPE as every report of ours), staged in S3 like a lease's pages; the
     * rows carry the account as their resource name. One call per activity, through the pacer.
     */
    async collectAccountDailyPage(input: {
      range: DateRange;
      /** Under S3_KEY_PREFIX. */ stagingPrefix: string;
      page: number;
      nextPageToken?: string;
    }): Promise<{ nextPageToken?: string }> {
      await deps.costExplorer.config.credentials();
      activityTelemetry().costExplorerCall('GetCostAndUsage');
      const page = await deps.costExplorer.send(
        atCallSlot(
          new GetCostAndUsageCommand({
            TimePeriod: { Start: input.range.start, End: input.range.end },
            Granularity: 'DAILY',
            Metrics: ['UnblendedCost'],
            Filter: recordTypeFilter(newScope),
            GroupBy: [{ Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' }],
            NextPageToken: input.nextPageToken,
          }),
        ),
      );
      const rows: CostRow[] = [];
      for (const period of page.ResultsByTime ?? []) {
        for (const group of period.Groups ?? []) {
          const amount = group.Metrics?.UnblendedCost?.Amount;
          const accountId = group.Keys?.[0];
          if (amount === undefined || accountId === undefined || period.TimePeriod?.Start === undefined) continue;
          rows.push({
            resourceName: accountId,
            service: ACCOUNT_DAILY_SERVICE,
            region: '',
            cost: amount,
            date: period.TimePeriod.Start,
          });
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
    return ApplicationFailure.nonRetryable(
      `Access denied reading Cost Explorer through role ${roleArn}: ${e.message}`,
      ErrorType.CostExplorerAccessDenied,
    );
  }
  if (REQUEST_INVALID.has(e.name)) {
    return ApplicationFailure.nonRetryable(
      `Cost Explorer rejected the request: ${e.name}: ${e.message}`,
      ErrorType.CostExplorerRequestInvalid,
    );
  }
  return err;
}
