// The fakes must behave like the real services as seen through the real AWS SDK and fetch.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CostExplorerClient,
  GetCostAndUsageCommand,
  GetCostAndUsageWithResourcesCommand,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageWithResourcesCommandInput,
  type ResultByTime,
} from '@aws-sdk/client-cost-explorer';
import { isThrottlingError, isTransientError } from '@smithy/core/retry';
import Decimal from 'decimal.js';
import { startFakeCostExplorer, type FakeCostExplorer, type FakeCostItem } from '../../support/fakes/cost-explorer';
import { encodeLeaseId, startFakeIsbApi, type FakeIsbApi } from '../../support/fakes/isb-api';

const TODAY = '2026-03-20';
const ACCOUNT = '111111111111';
const OTHER = '222222222222';
const CREDS = { accessKeyId: 'ASIATEST', secretAccessKey: 'x', sessionToken: 't' };
const D = Decimal.clone({ precision: 1000 });

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

const SERVICES = [
  'Amazon Elastic Compute Cloud - Compute',
  'Amazon Simple Storage Service',
  'AWS Lambda',
  'Amazon DynamoDB',
  'Amazon CloudWatch',
];

/** 14 days x `perDay` resources, two Usage lines each, some credits, plus noise in another account. */
function dataset(start: string, days: number, perDay: number, seed = 1): FakeCostItem[] {
  const r = rng(seed);
  const out: FakeCostItem[] = [];
  for (let d = 0; d < days; d++) {
    const date = addDays(start, d);
    for (let i = 0; i < perDay; i++) {
      const service = SERVICES[i % SERVICES.length]!;
      const resourceId = `arn:aws:svc:us-east-1:${ACCOUNT}:res/${i}`;
      const region = i % 3 === 0 ? 'eu-west-2' : 'us-east-1';
      out.push({ accountId: ACCOUNT, date, service, resourceId, region, amount: (r() * 100).toFixed(10) });
      out.push({
        accountId: ACCOUNT,
        date,
        service,
        resourceId,
        region,
        amount: i % 17 === 0 ? '0.0000000007' : (r() * 3).toFixed(7),
      });
      if (i % 10 === 0)
        out.push({ accountId: ACCOUNT, date, service, resourceId, region, amount: '-1.2', recordType: 'Credit' });
      if (i % 50 === 0) out.push({ accountId: OTHER, date, service, resourceId: `other-${i}`, region, amount: '5.5' });
    }
  }
  return out;
}

function ceClient(endpoint: string, maxAttempts = 1) {
  return new CostExplorerClient({ endpoint, region: 'us-east-1', credentials: CREDS, maxAttempts });
}

const usageFilter = (account = ACCOUNT) => ({
  And: [
    { Dimensions: { Key: 'LINKED_ACCOUNT' as const, Values: [account] } },
    { Dimensions: { Key: 'RECORD_TYPE' as const, Values: ['Usage'] } },
  ],
});

async function caught(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

type AnyInput = GetCostAndUsageCommandInput | GetCostAndUsageWithResourcesCommandInput;

/** Pages through a query the way the service code would, checking each group arrives once. */
async function pageAll(client: CostExplorerClient, input: AnyInput, withResources: boolean) {
  const seen = new Set<string>();
  let total = new D(0);
  let pages = 0;
  let token: string | undefined;
  const results: ResultByTime[] = [];
  const problems: string[] = [];
  do {
    const req = { ...input, NextPageToken: token };
    const out = withResources
      ? await client.send(new GetCostAndUsageWithResourcesCommand(req as GetCostAndUsageWithResourcesCommandInput))
      : await client.send(new GetCostAndUsageCommand(req as GetCostAndUsageCommandInput));
    pages++;
    for (const rbt of out.ResultsByTime ?? []) {
      results.push(rbt);
      for (const g of rbt.Groups ?? []) {
        const k = `${rbt.TimePeriod?.Start}|${g.Keys?.join('|')}`;
        if (seen.has(k)) problems.push(`duplicate group ${k}`);
        seen.add(k);
        const amount = g.Metrics?.UnblendedCost?.Amount ?? '';
        if (!/^-?\d+(\.\d+)?$/.test(amount)) problems.push(`bad amount ${amount} in ${k}`);
        else total = total.plus(amount);
      }
    }
    token = out.NextPageToken;
  } while (token);
  expect(problems).toEqual([]);
  return { groups: seen, total: total.isZero() ? '0' : total.toFixed(), pages, results };
}

describe('fake Cost Explorer through the real SDK', () => {
  let fake: FakeCostExplorer;
  let ce: CostExplorerClient;
  const start = addDays(TODAY, -14);
  const items = dataset(start, 14, 250);

  beforeAll(async () => {
    fake = await startFakeCostExplorer({ today: TODAY, pageSize: 100 });
    fake.addCosts(items);
    ce = ceClient(fake.endpoint);
  });
  afterAll(async () => {
    ce.destroy();
    await fake.close();
  });
  afterEach(() => {
    fake.resetFaults();
    fake.setPageSize(100);
    fake.resetCalls();
  });

  const resourceQuery = (): GetCostAndUsageWithResourcesCommandInput => ({
    TimePeriod: { Start: start, End: TODAY },
    Granularity: 'DAILY',
    Metrics: ['UnblendedCost'],
    Filter: usageFilter(),
    GroupBy: [
      { Type: 'DIMENSION', Key: 'SERVICE' },
      { Type: 'DIMENSION', Key: 'RESOURCE_ID' },
    ],
  });

  it('pages through >= 30 pages, every group once, exact total', async () => {
    const res = await pageAll(ce, resourceQuery(), true);
    expect(res.pages).toBe(35);
    expect(res.groups.size).toBe(14 * 250);

    // Independent exact sum of what was loaded.
    let want = new D(0);
    for (const it of items)
      if (it.accountId === ACCOUNT && (it.recordType ?? 'Usage') === 'Usage') want = want.plus(it.amount);
    expect(res.total).toBe(want.toFixed());
    expect(fake.expectedTotal({ accountId: ACCOUNT, start, end: TODAY, recordType: 'Usage' })).toBe(want.toFixed());

    expect(fake.calls).toHaveLength(35);
    expect(fake.calls.map((c) => c.pageIndex)).toEqual([...Array(35).keys()]);
    expect(fake.calls.every((c) => c.accessKeyId === 'ASIATEST' && c.hasSessionToken && c.status === 200)).toBe(true);
    expect(fake.calls.every((c) => c.operation === 'GetCostAndUsageWithResources')).toBe(true);
    expect(fake.calls.reduce((n, c) => n + c.groupsReturned, 0)).toBe(3500);
    expect(fake.stats()).toEqual({
      total: 35,
      ok: 35,
      throttled: 0,
      failed: 0,
      byOperation: { GetCostAndUsageWithResources: 35 },
    });
  });

  it('tokens are opaque and bound to the query', async () => {
    const first = await ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));
    const token = first.NextPageToken!;
    expect(token).toBeTruthy();
    expect(token).not.toMatch(/offset|page/i);

    const changed = { ...resourceQuery(), Metrics: ['UnblendedCost', 'BlendedCost'], NextPageToken: token };
    const err = await caught(ce.send(new GetCostAndUsageWithResourcesCommand(changed)));
    expect(err.name).toBe('RequestChangedException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toMatch(/parameters changed between pages/);

    const other = {
      TimePeriod: { Start: start, End: TODAY },
      Granularity: 'DAILY' as const,
      Metrics: ['UnblendedCost'],
      NextPageToken: token,
    };
    expect((await caught(ce.send(new GetCostAndUsageCommand(other)))).name).toBe('RequestChangedException');

    const garbled = await caught(
      ce.send(new GetCostAndUsageWithResourcesCommand({ ...resourceQuery(), NextPageToken: 'not-a-token' })),
    );
    expect(garbled.name).toBe('InvalidNextTokenException');

    // The same token with the same query still works.
    const second = await ce.send(new GetCostAndUsageWithResourcesCommand({ ...resourceQuery(), NextPageToken: token }));
    expect(second.ResultsByTime?.length).toBeGreaterThan(0);
    expect(fake.calls.at(-1)?.pageIndex).toBe(1);
  });

  it('DAILY vs MONTHLY shapes, ungrouped totals, requested metrics only', async () => {
    const local = await startFakeCostExplorer({ today: TODAY });
    const client = ceClient(local.endpoint);
    try {
      local.addCosts([
        { accountId: ACCOUNT, date: '2026-01-15', service: 'S3', resourceId: 'b', region: 'us-east-1', amount: '1.10' },
        {
          accountId: ACCOUNT,
          date: '2026-01-31',
          service: 'EC2',
          resourceId: 'i',
          region: 'us-east-1',
          amount: '2.0000000001',
        },
        { accountId: ACCOUNT, date: '2026-02-10', service: 'S3', resourceId: 'b', region: 'us-east-1', amount: '3' },
        {
          accountId: ACCOUNT,
          date: '2026-03-09',
          service: 'EC2',
          resourceId: 'i',
          region: 'us-east-1',
          amount: '-0.0000000001',
        },
        { accountId: ACCOUNT, date: '2026-03-10', service: 'EC2', resourceId: 'i', region: 'us-east-1', amount: '100' }, // End is exclusive
      ]);
      const base = {
        TimePeriod: { Start: '2026-01-15', End: '2026-03-10' },
        Metrics: ['UnblendedCost'],
        Filter: usageFilter(),
      };

      const monthly = await client.send(
        new GetCostAndUsageCommand({
          ...base,
          Granularity: 'MONTHLY',
          GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
        }),
      );
      expect(monthly.ResultsByTime?.map((r) => r.TimePeriod)).toEqual([
        { Start: '2026-01-15', End: '2026-02-01' },
        { Start: '2026-02-01', End: '2026-03-01' },
        { Start: '2026-03-01', End: '2026-03-10' },
      ]);
      expect(monthly.ResultsByTime?.[0]?.Groups).toEqual([
        { Keys: ['EC2'], Metrics: { UnblendedCost: { Amount: '2.0000000001', Unit: 'USD' } } },
        { Keys: ['S3'], Metrics: { UnblendedCost: { Amount: '1.1', Unit: 'USD' } } },
      ]);
      expect(monthly.ResultsByTime?.[0]?.Total).toEqual({});
      expect(monthly.ResultsByTime?.[0]?.Estimated).toBe(false);
      expect(monthly.GroupDefinitions).toEqual([{ Type: 'DIMENSION', Key: 'SERVICE' }]);
      expect(monthly.NextPageToken).toBeUndefined();

      const daily = await client.send(
        new GetCostAndUsageCommand({ ...base, Granularity: 'DAILY', GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }] }),
      );
      expect(daily.ResultsByTime).toHaveLength(31 - 15 + 1 + 28 + 9);
      expect(daily.ResultsByTime?.every((r) => addDays(r.TimePeriod!.Start!, 1) === r.TimePeriod!.End)).toBe(true);
      expect(daily.ResultsByTime?.filter((r) => (r.Groups ?? []).length > 0)).toHaveLength(4);
      expect(daily.ResultsByTime?.[1]?.Groups).toEqual([]);

      const ungrouped = await client.send(
        new GetCostAndUsageCommand({ ...base, Granularity: 'MONTHLY', Metrics: ['UnblendedCost', 'BlendedCost'] }),
      );
      expect(ungrouped.ResultsByTime?.map((r) => r.Total)).toEqual([
        {
          UnblendedCost: { Amount: '3.1000000001', Unit: 'USD' },
          BlendedCost: { Amount: '3.1000000001', Unit: 'USD' },
        },
        { UnblendedCost: { Amount: '3', Unit: 'USD' }, BlendedCost: { Amount: '3', Unit: 'USD' } },
        {
          UnblendedCost: { Amount: '-0.0000000001', Unit: 'USD' },
          BlendedCost: { Amount: '-0.0000000001', Unit: 'USD' },
        },
      ]);
      expect(ungrouped.ResultsByTime?.every((r) => (r.Groups ?? []).length === 0)).toBe(true);
      expect(local.expectedTotal({ accountId: ACCOUNT, start: '2026-01-15', end: '2026-03-10' })).toBe('6.1');

      // Periods with no data at all still appear.
      const empty = await client.send(
        new GetCostAndUsageCommand({
          ...base,
          Filter: usageFilter(OTHER),
          Granularity: 'MONTHLY',
          GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
        }),
      );
      expect(empty.ResultsByTime?.map((r) => r.Groups)).toEqual([[], [], []]);
      expect(empty.NextPageToken).toBeUndefined();
    } finally {
      client.destroy();
      await local.close();
    }
  });

  it('DAILY across pages: every day once, in order, both cost metrics exact per day, Savings Plan records included', async () => {
    const local = await startFakeCostExplorer({ today: TODAY, pageSize: 3 });
    const client = ceClient(local.endpoint);
    try {
      const days = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04'];
      for (const [i, date] of days.entries()) {
        if (i === 1) continue; // a day with no cost still has its period
        for (const [service, region] of [
          ['EC2', 'eu-west-2'],
          ['EC2', 'us-east-1'],
          ['S3', 'us-east-1'],
          ['Lambda', 'eu-west-2'],
        ]) {
          const item = {
            accountId: ACCOUNT,
            date,
            service: service!,
            resourceId: `${service}-${i}`,
            region: region!,
            amount: `1.${i}`,
          };
          local.addCost(item);
          // Hours a Savings Plan covers: on-demand unblended, the plan's rate amortized, and the
          // negation that takes the on-demand price off (AmortizedCost 0).
          if (service === 'EC2') {
            local.addCost({
              ...item,
              amount: '0.5',
              amortizedAmount: `0.${i}72`,
              recordType: 'SavingsPlanCoveredUsage',
            });
            local.addCost({ ...item, amount: '-0.5', recordType: 'SavingsPlanNegation' });
          }
        }
      }
      const q: GetCostAndUsageCommandInput = {
        TimePeriod: { Start: days[0], End: '2026-03-05' },
        Granularity: 'DAILY',
        Metrics: ['UnblendedCost', 'AmortizedCost'],
        Filter: {
          And: [
            { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } },
            { Not: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Credit', 'Refund'], MatchOptions: ['EQUALS'] } } },
          ],
        },
        GroupBy: [
          { Type: 'DIMENSION', Key: 'SERVICE' },
          { Type: 'DIMENSION', Key: 'REGION' },
        ],
      };
      const res = await pageAll(client, q, false);
      // 12 groups, 3 a page; a day cut by a page boundary ends one page and starts the next.
      expect(res.pages).toBe(4);
      expect(res.results.map((r) => [r.TimePeriod?.Start, r.Groups?.length])).toEqual([
        ['2026-03-01', 3],
        ['2026-03-01', 1],
        ['2026-03-02', 0],
        ['2026-03-03', 2],
        ['2026-03-03', 2],
        ['2026-03-04', 1],
        ['2026-03-04', 3],
      ]);
      for (const date of days) {
        const groups = res.results.filter((r) => r.TimePeriod?.Start === date).flatMap((r) => r.Groups ?? []);
        const sum = (metric: 'UnblendedCost' | 'AmortizedCost') =>
          groups.reduce((t, g) => t.plus(g.Metrics![metric]!.Amount!), new D(0)).toFixed();
        const end = addDays(date, 1);
        expect(sum('UnblendedCost')).toBe(local.expectedTotal({ accountId: ACCOUNT, start: date, end }));
        expect(sum('AmortizedCost')).toBe(
          local.expectedTotal({ accountId: ACCOUNT, start: date, end, metric: 'AmortizedCost' }),
        );
      }
      const ec2 = res.results
        .find((r) => r.TimePeriod?.Start === '2026-03-03')!
        .Groups!.find((g) => g.Keys![0] === 'EC2')!;
      expect(ec2.Metrics).toEqual({
        UnblendedCost: { Amount: '1.2', Unit: 'USD' },
        AmortizedCost: { Amount: '1.472', Unit: 'USD' },
      });
    } finally {
      client.destroy();
      await local.close();
    }
  });

  it('a period split across pages is repeated with disjoint groups', async () => {
    fake.setPageSize(7);
    const q: GetCostAndUsageCommandInput = {
      TimePeriod: { Start: start, End: addDays(start, 3) },
      Granularity: 'MONTHLY',
      Metrics: ['UnblendedCost'],
      Filter: usageFilter(),
      GroupBy: [
        { Type: 'DIMENSION', Key: 'REGION' },
        { Type: 'DIMENSION', Key: 'SERVICE' },
      ],
    };
    const res = await pageAll(ce, q, false);
    expect(res.groups.size).toBe(10);
    expect(res.pages).toBe(2);
    expect(res.results.map((r) => r.Groups?.length)).toEqual([7, 3]);
    expect(res.total).toBe(
      fake.expectedTotal({ accountId: ACCOUNT, start, end: addDays(start, 3), recordType: 'Usage' }),
    );
  });

  it('filters on RECORD_TYPE and LINKED_ACCOUNT (And, Or, Not)', async () => {
    const q = (Filter: GetCostAndUsageCommandInput['Filter']): GetCostAndUsageCommandInput => ({
      TimePeriod: { Start: start, End: TODAY },
      Granularity: 'MONTHLY',
      Metrics: ['UnblendedCost'],
      Filter,
    });
    const total = async (f: GetCostAndUsageCommandInput['Filter']) =>
      (await pageAll(ce, { ...q(f), GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }] }, false)).total;
    const end = TODAY;
    const usage = fake.expectedTotal({ accountId: ACCOUNT, start, end, recordType: 'Usage' });
    const all = fake.expectedTotal({ accountId: ACCOUNT, start, end });
    const credits = fake.expectedTotal({ accountId: ACCOUNT, start, end, recordType: 'Credit' });
    expect(new D(credits).isNegative()).toBe(true);

    expect(await total(usageFilter())).toBe(usage);
    expect(await total({ Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } })).toBe(all);
    expect(
      await total({
        And: [
          { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } },
          { Not: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } } },
        ],
      }),
    ).toBe(credits);
    expect(await total({ Dimensions: { Key: 'LINKED_ACCOUNT', Values: [OTHER] } })).toBe(
      fake.expectedTotal({ accountId: OTHER, start, end }),
    );
    expect(
      await total({
        Or: [
          { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [OTHER] } },
          { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } },
        ],
      }),
    ).toBe(new D(all).plus(fake.expectedTotal({ accountId: OTHER, start, end })).toFixed());

    const bad = await caught(
      ce.send(
        new GetCostAndUsageCommand(
          q({
            Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] },
            Not: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
          }),
        ),
      ),
    );
    expect(bad.name).toBe('ValidationException');
    // And and Or take at least two operands, in the service's words.
    for (const op of ['And', 'Or'] as const) {
      const lone = await caught(
        ce.send(
          new GetCostAndUsageCommand(q({ [op]: [{ Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } }] })),
        ),
      );
      expect(lone.message).toBe(`${op} expression must have at least 2 operands`);
    }
  });

  it('validates requests like AWS: GroupBy > 2, RESOURCE_ID on GetCostAndUsage, dates, granularity', async () => {
    const base: GetCostAndUsageCommandInput = {
      TimePeriod: { Start: start, End: TODAY },
      Granularity: 'DAILY',
      Metrics: ['UnblendedCost'],
      Filter: usageFilter(),
    };
    const groupBy3 = await caught(
      ce.send(
        new GetCostAndUsageCommand({
          ...base,
          GroupBy: [
            { Type: 'DIMENSION', Key: 'SERVICE' },
            { Type: 'DIMENSION', Key: 'REGION' },
            { Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' },
          ],
        }),
      ),
    );
    expect(groupBy3.name).toBe('ValidationException');
    expect(groupBy3.$metadata.httpStatusCode).toBe(400);
    expect(groupBy3.$fault).toBe('client');

    const rid = await caught(
      ce.send(new GetCostAndUsageCommand({ ...base, GroupBy: [{ Type: 'DIMENSION', Key: 'RESOURCE_ID' }] })),
    );
    expect(rid.name).toBe('ValidationException');
    expect(rid.message).toBe('Dimension RESOURCE_ID is not allowed.');

    const backwards = await caught(
      ce.send(new GetCostAndUsageCommand({ ...base, TimePeriod: { Start: TODAY, End: start } })),
    );
    expect(backwards.name).toBe('ValidationException');
    const same = await caught(
      ce.send(new GetCostAndUsageCommand({ ...base, TimePeriod: { Start: TODAY, End: TODAY } })),
    );
    expect(same.name).toBe('ValidationException');
    const future = await caught(
      ce.send(new GetCostAndUsageCommand({ ...base, TimePeriod: { Start: start, End: '2026-04-02' } })),
    );
    expect(future.message).toMatch(/past the beginning of next month/);
    await ce.send(new GetCostAndUsageCommand({ ...base, TimePeriod: { Start: start, End: '2026-04-01' } }));
    const hourly = await caught(ce.send(new GetCostAndUsageCommand({ ...base, Granularity: 'HOURLY' })));
    expect(hourly.name).toBe('ValidationException');
    const noMetrics = await caught(ce.send(new GetCostAndUsageCommand({ ...base, Metrics: [] })));
    expect(noMetrics.name).toBe('ValidationException');
    expect(fake.stats()).toMatchObject({ ok: 1, failed: 7, throttled: 0 });
  });

  it('resource-level data: 14-day rule and required Filter', async () => {
    const q = resourceQuery();
    const tooOld = await caught(
      ce.send(
        new GetCostAndUsageWithResourcesCommand({ ...q, TimePeriod: { Start: addDays(TODAY, -15), End: TODAY } }),
      ),
    );
    expect(tooOld.name).toBe('ValidationException');
    expect(tooOld.message).toBe(
      'Start date is more than 14 days ago for hourly granularity. Please adjust start date as we support only 14 days of data at hourly granularity.',
    );

    const ok = await ce.send(
      new GetCostAndUsageWithResourcesCommand({
        ...q,
        TimePeriod: { Start: addDays(TODAY, -14), End: addDays(TODAY, -13) },
      }),
    );
    expect(ok.ResultsByTime).toHaveLength(1);

    const noFilter = await caught(ce.send(new GetCostAndUsageWithResourcesCommand({ ...q, Filter: undefined })));
    expect(noFilter.name).toBe('ValidationException');
    expect(noFilter.message).toMatch(/Filter/);

    // Neither grouped nor filtered by a resource id.
    const noResourceId = await caught(
      ce.send(new GetCostAndUsageWithResourcesCommand({ ...q, GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }] })),
    );
    expect(noResourceId.message).toMatch(/either group by or filter by a ResourceId/);
    await ce.send(
      new GetCostAndUsageWithResourcesCommand({
        ...q,
        GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
        Filter: {
          And: [
            ...usageFilter().And,
            { Dimensions: { Key: 'RESOURCE_ID', Values: [`arn:aws:svc:us-east-1:${ACCOUNT}:res/0`] } },
          ],
        },
      }),
    );

    // The API reference's strict reading, when switched on: one SERVICE at the filter's top level.
    fake.setOneServicePerResourceQuery(true);
    const noService = await caught(ce.send(new GetCostAndUsageWithResourcesCommand(q)));
    expect(noService.message).toMatch(/requires the Expression SERVICE/);
    const oneService = {
      And: [...usageFilter().And, { Dimensions: { Key: 'SERVICE' as const, Values: [SERVICES[0]!] } }],
    };
    await ce.send(new GetCostAndUsageWithResourcesCommand({ ...q, Filter: oneService }));
    fake.setOneServicePerResourceQuery(false);

    // GetCostAndUsage has no such limit.
    const old = await ce.send(
      new GetCostAndUsageCommand({
        TimePeriod: { Start: '2025-06-01', End: TODAY },
        Granularity: 'MONTHLY',
        Metrics: ['UnblendedCost'],
      }),
    );
    expect(old.ResultsByTime).toHaveLength(10);

    // Moving "today" moves the window.
    fake.setToday('2026-04-10');
    expect((await caught(ce.send(new GetCostAndUsageWithResourcesCommand(q)))).name).toBe('ValidationException');
    fake.setToday(TODAY);
  });

  it('resource-level data disabled -> DataUnavailableException, switchable at runtime', async () => {
    fake.setResourceLevelEnabled(false);
    const err = await caught(ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery())));
    expect(err.name).toBe('DataUnavailableException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toMatch(/not enabled/);
    // Service-level data is unaffected.
    await ce.send(
      new GetCostAndUsageCommand({
        TimePeriod: { Start: start, End: TODAY },
        Granularity: 'MONTHLY',
        Metrics: ['UnblendedCost'],
      }),
    );
    fake.setResourceLevelEnabled(true);
    await ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));
  });

  it('throttling surfaces as the SDK throttling error and is retried by the SDK', async () => {
    fake.setThrottle({ everyNth: 2 });
    await ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));
    const err = await caught(ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery())));
    expect(err.name).toBe('LimitExceededException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.$fault).toBe('client');
    expect(isThrottlingError(err)).toBe(true);
    expect(fake.calls.at(-1)).toMatchObject({ status: 400, errorCode: 'LimitExceededException' });

    // With retries on, the SDK's standard strategy retries it transparently (call 2 throttled, 3 ok)...
    fake.setThrottle({ everyNth: 2 });
    await ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));
    fake.resetCalls();
    const retrying = ceClient(fake.endpoint, 3);
    try {
      const out = await retrying.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));
      expect(out.ResultsByTime?.length).toBeGreaterThan(0);
      expect(out.$metadata.attempts).toBe(2);
      expect(fake.stats()).toMatchObject({ total: 2, ok: 1, throttled: 1 });

      // ...but not a validation error.
      fake.setThrottle(null);
      fake.resetCalls();
      const bad = await caught(
        retrying.send(new GetCostAndUsageWithResourcesCommand({ ...resourceQuery(), Filter: undefined })),
      );
      expect(bad.name).toBe('ValidationException');
      expect(fake.calls).toHaveLength(1);
    } finally {
      retrying.destroy();
    }
  });

  it('maxRps throttles beyond N calls in the trailing second, across callers', async () => {
    fake.setThrottle({ maxRps: 3 });
    const q = resourceQuery();
    const settled = await Promise.allSettled(
      Array.from({ length: 6 }, () => ce.send(new GetCostAndUsageWithResourcesCommand(q))),
    );
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(3);
    const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(rejected.every((s) => s.reason.name === 'LimitExceededException')).toBe(true);
    expect(fake.stats()).toMatchObject({ total: 6, ok: 3, throttled: 3, failed: 0 });
    await new Promise((r) => setTimeout(r, 1050));
    await ce.send(new GetCostAndUsageWithResourcesCommand(q));
  });

  it('5xx: failNext and failAt mid-pagination', async () => {
    fake.failNext(1);
    const e500 = await caught(ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery())));
    expect(e500.name).toBe('InternalFailure');
    expect(e500.$metadata.httpStatusCode).toBe(500);
    expect(e500.$fault).toBe('server');
    expect(isTransientError(e500)).toBe(true);

    fake.failNext(1, 503);
    const e503 = await caught(ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery())));
    expect(e503.name).toBe('ServiceUnavailable');
    expect(e503.$metadata.httpStatusCode).toBe(503);

    await ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));

    // Page 2 fails once; retrying it with the same token continues where it stopped.
    fake.resetCalls();
    fake.failAt({ pageIndex: 2 });
    const seen = new Set<string>();
    let token: string | undefined;
    let failures = 0;
    do {
      try {
        const out = await ce.send(
          new GetCostAndUsageWithResourcesCommand({ ...resourceQuery(), NextPageToken: token }),
        );
        for (const r of out.ResultsByTime ?? [])
          for (const g of r.Groups ?? []) seen.add(`${r.TimePeriod?.Start}|${g.Keys?.join('|')}`);
        token = out.NextPageToken;
      } catch (err) {
        expect((err as Error).name).toBe('InternalFailure');
        failures++;
      }
    } while (token);
    expect(failures).toBe(1);
    expect(seen.size).toBe(3500);
    expect(fake.calls.filter((c) => c.status === 500).map((c) => c.pageIndex)).toEqual([2]);
    expect(fake.stats()).toMatchObject({ total: 36, ok: 35, failed: 1 });
  });

  it('access denied names the principal and the action', async () => {
    fake.setAccessDenied(true, {
      principalArn: 'arn:aws:sts::999988887777:assumed-role/CostReader/lease-costs-session',
    });
    const err = await caught(
      ce.send(
        new GetCostAndUsageCommand({
          TimePeriod: { Start: start, End: TODAY },
          Granularity: 'DAILY',
          Metrics: ['UnblendedCost'],
        }),
      ),
    );
    expect(err.name).toBe('AccessDeniedException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toMatch(
      /^User: arn:aws:sts::999988887777:assumed-role\/CostReader\/lease-costs-session is not authorized to perform: ce:GetCostAndUsage/,
    );
    expect(err.$metadata.requestId).toBeTruthy();
    fake.setAccessDenied(false);
    await ce.send(
      new GetCostAndUsageCommand({
        TimePeriod: { Start: start, End: TODAY },
        Granularity: 'DAILY',
        Metrics: ['UnblendedCost'],
      }),
    );
  });

  it('slow pages', async () => {
    fake.setDelayMs(150);
    const t0 = Date.now();
    await ce.send(new GetCostAndUsageWithResourcesCommand(resourceQuery()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(fake.calls.at(-1)!.durationMs).toBeGreaterThanOrEqual(140);
  });

  it('wire level: error shape, unknown operation, missing auth', async () => {
    const post = (target: string, body: unknown, auth = true) =>
      fetch(fake.endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': target,
          ...(auth
            ? {
                Authorization:
                  'AWS4-HMAC-SHA256 Credential=AKIAWIRE/20260320/us-east-1/ce/aws4_request, SignedHeaders=host, Signature=00',
              }
            : {}),
        },
        body: JSON.stringify(body),
      });
    const unknown = await post('AWSInsightsIndexService.GetCostForecast', {});
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(((await unknown.json()) as { __type: string }).__type).toBe('UnknownOperationException');

    const noAuth = await post('AWSInsightsIndexService.GetCostAndUsage', {}, false);
    expect(((await noAuth.json()) as { __type: string }).__type).toBe('MissingAuthenticationTokenException');

    fake.setThrottle({ everyNth: 1 });
    const thr = await post('AWSInsightsIndexService.GetCostAndUsage', {});
    expect(thr.status).toBe(400);
    expect(thr.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(thr.headers.get('x-amzn-errortype')).toBe('LimitExceededException');
    expect(await thr.json()).toEqual({
      __type: 'LimitExceededException',
      Message: expect.stringMatching(/too many calls/),
    });
    expect(fake.calls.at(-1)?.accessKeyId).toBe('AKIAWIRE');
  });
});

describe('fake Cost Explorer at scale', () => {
  it('serves 100,000 groups across pages quickly', async () => {
    const fake = await startFakeCostExplorer({ today: TODAY, pageSize: 5000 });
    const ce = ceClient(fake.endpoint);
    try {
      const start = addDays(TODAY, -10);
      const items: FakeCostItem[] = [];
      for (let d = 0; d < 10; d++) {
        const date = addDays(start, d);
        for (let i = 0; i < 10_000; i++) {
          items.push({
            accountId: ACCOUNT,
            date,
            service: SERVICES[i % 5]!,
            resourceId: `r-${i}`,
            region: 'us-east-1',
            amount: `${i}.${String(d).padStart(3, '0')}0000001`,
          });
        }
      }
      fake.addCosts(items);
      for (let i = 0; i < 5000; i++)
        fake.addCost({
          accountId: OTHER,
          date: start,
          service: 'S3',
          resourceId: `o-${i}`,
          region: 'us-east-1',
          amount: '1',
        });
      const t0 = performance.now();
      const res = await pageAll(
        ce,
        {
          TimePeriod: { Start: start, End: TODAY },
          Granularity: 'DAILY',
          Metrics: ['UnblendedCost'],
          Filter: usageFilter(),
          GroupBy: [
            { Type: 'DIMENSION', Key: 'SERVICE' },
            { Type: 'DIMENSION', Key: 'RESOURCE_ID' },
          ],
        },
        true,
      );
      const ms = performance.now() - t0;
      expect(res.groups.size).toBe(100_000);
      expect(res.pages).toBe(20);
      expect(res.total).toBe(fake.expectedTotal({ accountId: ACCOUNT, start, end: TODAY, recordType: 'Usage' }));
      expect(ms).toBeLessThan(20_000); // generous: catches per-page rescans, not a busy CI box
    } finally {
      ce.destroy();
      await fake.close();
    }
  }, 60_000);
});

describe('fake ISB API', () => {
  const SECRET = 'test-secret-0123456789abcdef0123456789';
  const LEASE = { uuid: '550e8400-e29b-41d4-a716-446655440000', userEmail: 'user@example.com' };
  const OTHER_LEASE = { uuid: '11111111-2222-4333-8444-555555555555', userEmail: 'other@example.com' };
  let isb: FakeIsbApi;

  beforeAll(async () => {
    isb = await startFakeIsbApi({ jwtSecret: SECRET });
    isb.addLease({
      ...LEASE,
      accountId: ACCOUNT,
      startDate: '2026-03-01T09:00:00.000Z',
      endDate: '2026-03-05T09:00:00.000Z',
      status: 'Expired',
    });
    isb.addLease({ ...OTHER_LEASE, accountId: OTHER, startDate: '2026-03-02T00:00:00.000Z', status: 'Active' });
  });
  afterAll(async () => {
    await isb.close();
  });
  afterEach(() => {
    isb.resetFaults();
    isb.resetCalls();
  });

  // The id goes into the path raw, as the ISB frontend sends it (leases/service.ts `/leases/${id}`).
  const get = (id: string, token?: string) =>
    fetch(`${isb.endpoint}/leases/${id}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const errorsOf = async (res: Response) =>
    ((await res.json()) as { data: { errors: { message: string }[] } }).data.errors.map((e) => e.message);

  it('good token -> the lease in JSend, as the ISB stores it: awsAccountId, never accountId', async () => {
    const res = await get(encodeLeaseId(LEASE.userEmail, LEASE.uuid), await isb.signToken());
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Record<string, unknown> };
    expect(body).toMatchObject({
      status: 'success',
      data: {
        ...LEASE,
        awsAccountId: ACCOUNT,
        startDate: '2026-03-01T09:00:00.000Z',
        endDate: '2026-03-05T09:00:00.000Z',
        status: 'Expired',
        originalLeaseTemplateName: 'sandbox',
        maxSpend: 50,
        totalCostAccrued: 0,
        leaseId: encodeLeaseId(LEASE.userEmail, LEASE.uuid),
      },
    });
    expect(body.data.accountId).toBeUndefined();
    expect(body.data.ttl).toBe(Date.parse('2026-03-05T09:00:00.000Z') / 1000 + 30 * 86_400);
    expect(isb.calls.at(-1)).toMatchObject({ method: 'GET', status: 200, uuid: LEASE.uuid });
  });

  it('knows only the ISB statuses', () => {
    expect(() =>
      isb.addLease({
        ...LEASE,
        uuid: '22222222-2222-4222-8222-222222222222',
        accountId: ACCOUNT,
        startDate: '2026-03-01T09:00:00.000Z',
        status: 'UserTerminated',
      }),
    ).toThrow(/no lease status UserTerminated/);
  });

  it('refuses at each layer as the real API does: gateway 401, authorizer 403, handler 401 and 400', async () => {
    const id = encodeLeaseId(LEASE.userEmail, LEASE.uuid);
    const cases: [string | undefined, number][] = [
      [undefined, 401], // no Authorization header: API Gateway, before the authorizer
      [await isb.signToken({ secret: 'some-other-secret-some-other-secret' }), 403], // authorizer: bad signature
      [await isb.signToken({ expiresInSeconds: -60 }), 403], // authorizer: expired
      [await isb.signToken({ roles: ['Auditor'] }), 403], // authorizer: no role of the map
      ['not.a.jwt', 403],
      [await isb.signToken({ email: 'lease-costs@system' }), 400], // handler: IsbUserSchema email
      [await isb.signToken({ email: 'lease-costs@innovation-sandbox.local', roles: ['Admin', 'Superuser'] }), 400], // roles outside the enum
    ];
    for (const [token, status] of cases) expect((await get(id, token)).status, String(token)).toBe(status);
    const denied = await get(id, await isb.signToken({ roles: ['Auditor'] }));
    expect(denied.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect(await denied.json()).toEqual({
      Message: 'User is not authorized to access this resource with an explicit deny',
    });
    expect(await errorsOf(await get(id, await isb.signToken({ email: 'lease-costs@system' })))).toEqual([
      'Token payload has invalid user object.',
    ]);
    // jsonwebtoken's defaults: a token without exp is accepted.
    expect((await get(id, await isb.signToken({ noExp: true }))).status).toBe(200);
  });

  it('role map: User may look up only its own lease and never list all; Manager and Admin read everything', async () => {
    const own = encodeLeaseId(LEASE.userEmail, LEASE.uuid);
    const other = encodeLeaseId(OTHER_LEASE.userEmail, OTHER_LEASE.uuid);
    const user = await isb.signToken({ email: LEASE.userEmail, roles: ['User'] });
    expect((await get(own, user)).status).toBe(200);
    const refused = await get(other, user);
    expect(refused.status).toBe(403);
    expect(await errorsOf(refused)).toEqual(['Active user is not authorized to view leases of requested user.']);
    const list = await fetch(`${isb.endpoint}/leases`, { headers: { Authorization: `Bearer ${user}` } });
    expect(list.status).toBe(403);
    expect(await errorsOf(list)).toEqual(['User is not authorized to get all leases.']);
    for (const roles of [['Manager'], ['Admin'], ['User', 'Manager']]) {
      const token = await isb.signToken({ roles });
      expect((await get(other, token)).status).toBe(200);
      expect((await fetch(`${isb.endpoint}/leases`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(
        200,
      );
    }
  });

  it('a rotated secret: the authorizer denies old tokens (403); a warm authorizer with the old secret lets them reach the handler (401)', async () => {
    const id = encodeLeaseId(LEASE.userEmail, LEASE.uuid);
    const old = await isb.signToken();
    isb.rotateSecret('rotated-secret-rotated-secret-rotated');
    try {
      expect((await get(id, old)).status).toBe(403);
      expect((await get(id, await isb.signToken())).status).toBe(200);
      isb.rotateSecret('third-secret-third-secret-third-secret', { authorizerKeepsOld: true });
      const stale = await get(id, await isb.signToken({ secret: 'rotated-secret-rotated-secret-rotated' }));
      expect(stale.status).toBe(401);
      expect(await errorsOf(stale)).toEqual(['Invalid bearer token.']);
    } finally {
      isb.rotateSecret(SECRET);
    }
  });

  it('the lease id: padded standard base64 of the raw path parameter, else 400; unknown -> 404', async () => {
    const token = await isb.signToken();
    const id = encodeLeaseId(OTHER_LEASE.userEmail, OTHER_LEASE.uuid);
    expect(id).toMatch(/==$/); // padded: the case that encodeURIComponent breaks
    expect((await get(id, token)).status).toBe(200);
    const encoded = await get(encodeURIComponent(id), token);
    expect(encoded.status).toBe(400);
    expect((await get(id.replace(/=+$/, ''), token)).status).toBe(400); // unpadded
    expect((await get('%%%not-base64', token)).status).toBe(400);
    expect(await errorsOf(await get(Buffer.from('not json').toString('base64'), token))).toEqual([
      'LeaseId path parameter provided is invalid.',
    ]);
    expect((await get(Buffer.from('{"nope":1}').toString('base64'), token)).status).toBe(400);
    const missing = await get(encodeLeaseId(LEASE.userEmail, '00000000-0000-4000-8000-000000000001'), token);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ status: 'fail', data: { errors: [{ message: 'Lease not found.' }] } });
    // Same uuid under another email is another lease.
    expect((await get(encodeLeaseId('someone@example.com', LEASE.uuid), token)).status).toBe(404);
  });

  it('a record failing the ISB schema: 404 on lookup, dropped from the list with data.error', async () => {
    const bad = { uuid: '33333333-3333-4333-8333-333333333333', userEmail: 'broken@example.com' };
    isb.addLease({
      ...bad,
      accountId: ACCOUNT,
      startDate: '2026-03-01T09:00:00.000Z',
      status: 'Expired',
      extra: { totalCostAccrued: 'lots' },
    });
    try {
      const token = await isb.signToken();
      expect((await get(encodeLeaseId(bad.userEmail, bad.uuid), token)).status).toBe(404);
      const list = (await (
        await fetch(`${isb.endpoint}/leases`, { headers: { Authorization: `Bearer ${token}` } })
      ).json()) as { data: { result: { uuid: string }[]; error?: string } };
      expect(list.data.result.map((l) => l.uuid).sort()).toEqual([OTHER_LEASE.uuid, LEASE.uuid].sort());
      expect(list.data.error).toMatch(/^1 invalid records found: /);
    } finally {
      isb.removeLease(bad.userEmail, bad.uuid);
    }
  });

  it('an invalid pageIdentifier is a 500, as base64DecodeCompositeKey throws in the real one', async () => {
    const token = await isb.signToken();
    for (const pageIdentifier of ['not-a-key', Buffer.from('{"x":1}').toString('base64')]) {
      const res = await fetch(`${isb.endpoint}/leases?pageIdentifier=${encodeURIComponent(pageIdentifier)}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ status: 'error', message: 'An unexpected error occurred.' });
    }
  });

  it('failNext -> 503 JSend error, 429 the WAF rate answer, WAF block 403; then recovers; delay', async () => {
    const token = await isb.signToken();
    const id = encodeLeaseId(LEASE.userEmail, LEASE.uuid);
    isb.failNext(2);
    for (let i = 0; i < 2; i++) {
      const res = await get(id, token);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'error', message: expect.any(String) });
    }
    isb.failNext(1, 429);
    const limited = await get(id, token);
    expect([limited.status, await limited.json()]).toEqual([429, { message: 'Too many requests' }]);
    isb.setWafBlocked(true);
    const blocked = await get(id, token);
    expect([blocked.status, await blocked.json()]).toEqual([403, { message: 'Forbidden' }]);
    isb.setWafBlocked(false);
    expect((await get(id, token)).status).toBe(200);
    isb.setDelayMs(120);
    const t0 = Date.now();
    expect((await get(id, token)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
  });
});
