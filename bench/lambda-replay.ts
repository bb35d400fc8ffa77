// The Lambda design's Cost Explorer algorithm, replayed against the Cost Explorer fake with the AWS
// SDK, so its calls can be counted on the same data as ours.
//
// As the benchmark issue describes it: one service-list query over the window, then for each
// service one resource-level query (GetCostAndUsageWithResources filtered to that service) over
// the last 14 days, every page of it, plus a service-level query for the days older than 14. The
// Lambda's source (innovation-sandbox-on-aws-costs, src/lib/cost-explorer.ts) queries with DAILY
// granularity and groups by SERVICE, so the replay does too. Its 50-page cap (MAX_PAGES) is NOT
// applied: the count is what a complete report costs; `maxPagesOneQuery` shows whether the cap
// would have truncated it.
import {
  CostExplorerClient,
  GetCostAndUsageCommand,
  GetCostAndUsageWithResourcesCommand,
  type Expression,
  type GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import { splitByResourceHorizon } from '../src/domain/billing-window';
import type { DateRange } from '../src/domain/schemas';

export const LAMBDA_MAX_PAGES = 50;

export interface LambdaReplayResult {
  calls: number;
  serviceListCalls: number;
  resourceLevelCalls: number;
  serviceLevelCalls: number;
  services: number;
  groupsReturned: number;
  /** Pages of the longest single paginated query. */
  maxPagesOneQuery: number;
}

function filter(accountId: string, service?: string): Expression {
  const and: Expression[] = [
    { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [accountId] } },
    { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
  ];
  if (service !== undefined) and.push({ Dimensions: { Key: 'SERVICE', Values: [service] } });
  return { And: and };
}

export async function replayLambda(
  endpoint: string,
  args: { accountId: string; window: DateRange; today: string },
): Promise<LambdaReplayResult> {
  const client = new CostExplorerClient({
    region: 'us-east-1',
    endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIALAMBDAREPLAY', secretAccessKey: 'lambda-replay' },
  });
  const result: LambdaReplayResult = {
    calls: 0,
    serviceListCalls: 0,
    resourceLevelCalls: 0,
    serviceLevelCalls: 0,
    services: 0,
    groupsReturned: 0,
    maxPagesOneQuery: 0,
  };
  /** Every page of one query; returns the pages. */
  const allPages = async (
    fetch: (token?: string) => Promise<Pick<GetCostAndUsageCommandOutput, 'ResultsByTime' | 'NextPageToken'>>,
    count: (n: number) => void,
  ) => {
    const pages: Pick<GetCostAndUsageCommandOutput, 'ResultsByTime' | 'NextPageToken'>[] = [];
    let token: string | undefined;
    do {
      const page = await fetch(token);
      result.calls++;
      count(1);
      pages.push(page);
      for (const period of page.ResultsByTime ?? []) result.groupsReturned += period.Groups?.length ?? 0;
      token = page.NextPageToken || undefined;
    } while (token);
    result.maxPagesOneQuery = Math.max(result.maxPagesOneQuery, pages.length);
    return pages;
  };
  try {
    const split = splitByResourceHorizon(args.window, args.today);
    const daily = { Granularity: 'DAILY' as const, Metrics: ['UnblendedCost'] };

    // 1. The service list: every service with usage in the window.
    const services = new Set<string>();
    const listPages = await allPages(
      (token) =>
        client.send(
          new GetCostAndUsageCommand({
            ...daily,
            TimePeriod: { Start: args.window.start, End: args.window.end },
            GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
            Filter: filter(args.accountId),
            NextPageToken: token,
          }),
        ),
      (n) => (result.serviceListCalls += n),
    );
    for (const page of listPages) {
      for (const period of page.ResultsByTime ?? [])
        for (const g of period.Groups ?? []) services.add(g.Keys?.[0] ?? '');
    }
    result.services = services.size;

    // 2. Per service, the resource-level query over the last 14 days, paged.
    if (split.resourceLevel) {
      const range = split.resourceLevel;
      for (const service of [...services].sort()) {
        await allPages(
          (token) =>
            client.send(
              new GetCostAndUsageWithResourcesCommand({
                ...daily,
                TimePeriod: { Start: range.start, End: range.end },
                GroupBy: [{ Type: 'DIMENSION', Key: 'RESOURCE_ID' }],
                Filter: filter(args.accountId, service),
                NextPageToken: token,
              }),
            ),
          (n) => (result.resourceLevelCalls += n),
        );
      }
    }

    // 3. Days older than 14: service level, paged.
    if (split.serviceLevel) {
      const range = split.serviceLevel;
      await allPages(
        (token) =>
          client.send(
            new GetCostAndUsageCommand({
              ...daily,
              TimePeriod: { Start: range.start, End: range.end },
              GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
              Filter: filter(args.accountId),
              NextPageToken: token,
            }),
          ),
        (n) => (result.serviceLevelCalls += n),
      );
    }
    return result;
  } finally {
    client.destroy();
  }
}
