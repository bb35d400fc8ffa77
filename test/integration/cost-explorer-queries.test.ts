// The collection step against the Cost Explorer fake through the real SDK, with the clock injected:
// the queries Cost Explorer takes at the calendar's edges, and refusals of resource-level data
// that make those days service level instead of failing the lease. No Temporal: the step is the
// activity function, looped as the collect workflow and the `report` command loop it.
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import Decimal from 'decimal.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clampedRange, createCostExplorerActivities } from '../../activities/cost-explorer';
import { addDays, monthOfMostDays, splitByResourceHorizon } from '../../src/domain/billing-window';
import {
  reportRowsOf,
  resourcePlan,
  SERVICE_LEVEL_RESOURCE,
  stagedPartsOf,
  type CollectionProgress,
  type CollectionResult,
} from '../../src/domain/collection';
import { buildCostCsv } from '../../src/domain/csv';
import type { CostRow, DateRange } from '../../src/domain/schemas';
import { startFakeCostExplorer, type FakeCostExplorer } from '../../support/fakes/cost-explorer';
import { dailyCosts } from '../helpers/stack';

const ACCOUNT = '123412341234';
let fake: FakeCostExplorer;
let ce: CostExplorerClient;

beforeAll(async () => {
  fake = await startFakeCostExplorer();
  ce = new CostExplorerClient({
    region: 'us-east-1',
    endpoint: fake.endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'x' },
  });
});
afterAll(async () => {
  ce?.destroy();
  await fake?.close();
});
afterEach(() => {
  fake.clear();
  fake.resetCalls();
  fake.resetFaults();
  fake.setPageSize(500);
  fake.setToday(undefined);
});

const at = (day: string) => Date.parse(`${day}T12:00:00Z`);

/**
 * Collects `window` as planned on `planDay`; `clockAt(progress)` says which day it is before each
 * call (the fake's "today" follows). Returns the result, the CSV's rows and total.
 */
async function collect(
  window: DateRange,
  planDay: string,
  clockAt: (p: CollectionProgress | undefined) => string = () => planDay,
) {
  const parts = new Map<string, CostRow[]>();
  let day = planDay;
  const { collectCostsPage } = createCostExplorerActivities({
    costExplorer: ce,
    roleArn: 'arn:aws:iam::123412341234:role/reader',
    keyPrefix: '',
    staging: { putPart: async (k, rows) => void parts.set(k, rows), getPart: async (k) => parts.get(k) ?? [] },
    acquireCallSlot: async () => undefined,
    now: () => at(day),
  });
  const input = {
    leaseUuid: '6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f',
    accountId: ACCOUNT,
    version: 1,
    ...splitByResourceHorizon(window, planDay),
  };
  let progress: CollectionProgress | undefined;
  let result: CollectionResult | undefined;
  for (let i = 0; i < 100 && !result; i++) {
    day = clockAt(progress);
    fake.setToday(day);
    const step = await collectCostsPage(input, progress);
    if (step.done) result = step.result;
    else progress = step.progress;
  }
  if (!result) throw new Error('collection did not finish in 100 calls');
  const rows = stagedPartsOf(result).flatMap((p) => reportRowsOf(p, parts.get(p.key) ?? []));
  const csv = buildCostCsv(rows);
  const lines = csv.csv
    .trim()
    .split('\r\n')
    .slice(1)
    .map((l) => l.split(','));
  return { result, lines, total: csv.total };
}

const expectedTotal = (window: DateRange) => fake.expectedTotal({ accountId: ACCOUNT, ...window, recordType: 'Usage' });
const failedCalls = () => fake.calls.filter((c) => c.status !== 200).map((c) => `${c.operation} ${c.errorCode}`);

describe('resource queries', () => {
  it('one query for the services seen in one region, one more per extra region of the most widespread service', () => {
    expect(
      resourcePlan([
        ['EC2', 'eu-west-2'],
        ['S3', 'us-east-1'],
        ['Support', 'global'],
      ]),
    ).toEqual([{ 'eu-west-2': ['EC2'], global: ['Support'], 'us-east-1': ['S3'] }]);
    expect(
      resourcePlan([
        ['VPC', 'eu-west-2'],
        ['VPC', 'us-east-1'],
        ['S3', 'us-east-1'],
        ['VPC', 'eu-west-2'],
      ]),
    ).toEqual([{ 'eu-west-2': ['VPC'], 'us-east-1': ['S3'] }, { 'us-east-1': ['VPC'] }]);
    expect(resourcePlan([])).toEqual([]);
  });

  it('every row keeps the region Cost Explorer reports, in 2 resource queries for 3 regions, exact', async () => {
    const day = '2026-05-20';
    const window = { start: '2026-05-15', end: '2026-05-19' };
    const costs = [
      { service: 'Amazon Virtual Private Cloud', resourceId: 'NoResourceId', region: 'eu-west-2', amount: '0.5' },
      { service: 'Amazon Virtual Private Cloud', resourceId: 'NoResourceId', region: 'us-east-1', amount: '0.25' },
      { service: 'Amazon Simple Storage Service', resourceId: 'bucket-a', region: 'us-east-1', amount: '0.000023' },
      { service: 'AWS Lambda', resourceId: 'fn', region: 'eu-west-1', amount: '0.0000001' },
    ];
    fake.addCosts(costs.flatMap((c) => dailyCosts({ accountId: ACCOUNT, ...window, ...c })));
    const { result, lines, total } = await collect(window, day);
    expect(result.resourceLevel).toBe('used');
    expect(new Set(lines.map((l) => l.slice(0, 3).join('|')))).toEqual(
      new Set(costs.map((c) => `${c.resourceId}|${c.service}|${c.region}`)),
    );
    expect(total).toBe(expectedTotal(window));
    expect(fake.calls.map((c) => c.operation)).toEqual([
      'GetCostAndUsage',
      'GetCostAndUsageWithResources',
      'GetCostAndUsageWithResources',
    ]);
    expect(failedCalls()).toEqual([]);
  });
});

describe('calendar edges: dates clamp instead of failing', () => {
  const plan = '2026-05-20';
  const window = { start: '2026-04-30', end: '2026-05-21' };
  const horizon = addDays(plan, -13);
  const twoMidnightsLater = addDays(plan, 2);
  const movedStart = addDays(twoMidnightsLater, -13);

  /** A clock that moves two midnights on once `passes` says so, and stays there. */
  const clockMovingWhen = (passes: (p: CollectionProgress) => boolean) => {
    let moved = false;
    return (p: CollectionProgress | undefined) => ((moved ||= p !== undefined && passes(p)) ? twoMidnightsLater : plan);
  };

  it.each([
    // Before its first page the start is clamped before sending; between pages the page is refused once.
    [
      'before the first resource query',
      () => clockMovingWhen((p) => p.segments[p.segmentIndex]?.kind === 'resource'),
      0,
    ],
    [
      'between pages of a resource query',
      () => clockMovingWhen((p) => p.segments[p.segmentIndex]?.kind === 'resource' && p.nextPageToken !== undefined),
      1,
    ],
  ])(
    'two UTC midnights pass %s: the resource start moves, the days skipped are service level, exact',
    async (_when, clock, refused) => {
      const clockAt = clock();
      fake.addCosts(
        dailyCosts({
          accountId: ACCOUNT,
          ...window,
          service: 'AWS Lambda',
          resourceId: 'fn-a',
          region: 'eu-west-2',
          amount: '0.1',
        }),
      );
      fake.addCosts(
        dailyCosts({
          accountId: ACCOUNT,
          ...window,
          service: 'AWS Lambda',
          resourceId: 'fn-b',
          region: 'eu-west-2',
          amount: '0.0000000003',
        }),
      );
      fake.setPageSize(1);
      const { result, lines, total } = await collect(window, plan, clockAt);
      expect(total).toBe(expectedTotal(window));
      expect(result.resourceLevel).toBe('used');
      const days = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000;
      expect(lines).toEqual([
        ['fn-a', 'AWS Lambda', 'eu-west-2', new Decimal('0.1').times(days(movedStart, window.end)).toFixed()],
        [
          '(service level)',
          'AWS Lambda',
          'eu-west-2',
          new Decimal('0.1000000003').times(days(window.start, movedStart)).toFixed(),
        ],
        ['fn-b', 'AWS Lambda', 'eu-west-2', new Decimal('0.0000000003').times(days(movedStart, window.end)).toFixed()],
      ]);
      // Every resource page that counts asked from the moved start, MONTHLY: the 14-day refusal names
      // "hourly granularity", yet it moves the start and never switches to DAILY.
      const resourceRequests = fake.calls
        .filter((c) => c.operation === 'GetCostAndUsageWithResources')
        .map((c) => c.request as { TimePeriod: DateRange & { Start: string }; Granularity: string });
      expect(new Set(resourceRequests.map((r) => r.Granularity))).toEqual(new Set(['MONTHLY']));
      expect(resourceRequests.at(-1)!.TimePeriod.Start).toBe(movedStart);
      expect(horizon < movedStart).toBe(true);
      expect(failedCalls()).toEqual(Array(refused).fill('GetCostAndUsageWithResources ValidationException'));
    },
  );

  it("collectNow near a month's end: an end past the first of next month clamps to it", async () => {
    const today = '2026-11-30';
    const late = { start: '2026-11-24', end: '2026-12-02' };
    fake.addCosts(
      dailyCosts({
        accountId: ACCOUNT,
        start: late.start,
        end: '2026-12-01',
        service: 'Amazon DynamoDB',
        resourceId: 'table/t',
        region: 'eu-west-1',
        amount: '2.5',
      }),
    );
    const { result, lines, total } = await collect(late, today);
    expect(failedCalls()).toEqual([]);
    expect(fake.calls.map((c) => (c.request as { TimePeriod: { End: string } }).TimePeriod.End)).toEqual([
      '2026-12-01',
      '2026-12-01',
    ]);
    expect(result.resourceLevel).toBe('used');
    expect(lines).toEqual([['table/t', 'Amazon DynamoDB', 'eu-west-1', '17.5']]);
    expect(total).toBe(expectedTotal(late));
  });

  it('clampedRange: the end to the first of next month (December to January too), a resource start to 13 days back', () => {
    expect(clampedRange({ kind: 'service', range: { start: '2026-12-20', end: '2027-01-03' } }, '2026-12-31')).toEqual({
      start: '2026-12-20',
      end: '2027-01-01',
    });
    expect(clampedRange({ kind: 'resource', range: { start: '2026-05-07', end: '2026-05-21' } }, '2026-05-22')).toEqual(
      { start: '2026-05-09', end: '2026-05-21' },
    );
    expect(clampedRange({ kind: 'service', range: { start: '2026-05-07', end: '2026-05-21' } }, '2026-05-22')).toEqual({
      start: '2026-05-07',
      end: '2026-05-21',
    });
    expect(
      clampedRange({ kind: 'resource', range: { start: '2026-05-01', end: '2026-05-05' } }, '2026-05-30'),
    ).toBeUndefined();
  });
});

describe('across a month boundary: more than a page of resources keeps detail on one month', () => {
  const lambda = (resourceId: string, range: DateRange, amount: string) =>
    dailyCosts({ accountId: ACCOUNT, ...range, service: 'AWS Lambda', resourceId, region: 'eu-west-2', amount });
  const resourcePeriods = () =>
    fake.calls
      .filter((c) => c.operation === 'GetCostAndUsageWithResources')
      .map((c) => (c.request as { TimePeriod: { Start: string; End: string } }).TimePeriod)
      .map((t) => `${t.Start}..${t.End}`);

  it.each([
    [
      { start: '2026-05-25', end: '2026-06-04' },
      { start: '2026-05-25', end: '2026-06-01' },
    ],
    [
      { start: '2026-05-29', end: '2026-06-08' },
      { start: '2026-06-01', end: '2026-06-08' },
    ],
    [
      { start: '2026-05-29', end: '2026-06-04' },
      { start: '2026-06-01', end: '2026-06-04' },
    ],
    [
      { start: '2026-12-27', end: '2027-01-03' },
      { start: '2026-12-27', end: '2027-01-01' },
    ],
    [{ start: '2026-06-01', end: '2026-06-08' }, undefined],
    [{ start: '2026-05-20', end: '2026-06-01' }, undefined],
  ])(
    'monthOfMostDays(%o): the month holding more of the days, the later on a tie; undefined within a month',
    (range, month) => {
      expect(monthOfMostDays(range)).toEqual(month);
    },
  );

  it('the earlier month has more of the days: its resources in detail, the later days service level, exact', async () => {
    const window = { start: '2026-05-25', end: '2026-06-04' };
    fake.addCosts(lambda('fn-a', window, '0.1'));
    fake.addCosts(lambda('fn-b', window, '0.0000000003'));
    fake.addCosts(lambda('fn-c', { start: '2026-05-26', end: '2026-05-29' }, '1'));
    fake.addCosts(lambda('fn-d', { start: '2026-06-02', end: '2026-06-04' }, '0.02'));
    fake.setPageSize(2);
    const { result, lines, total } = await collect(window, '2026-06-04');
    expect(result.resourceLevel).toBe('used');
    expect(lines).toEqual([
      ['fn-c', 'AWS Lambda', 'eu-west-2', '3'],
      ['fn-a', 'AWS Lambda', 'eu-west-2', '0.7'],
      ['(service level)', 'AWS Lambda', 'eu-west-2', '0.3400000009'],
      ['fn-b', 'AWS Lambda', 'eu-west-2', '0.0000000021'],
    ]);
    expect(total).toBe(expectedTotal(window));
    // The first page across both months showed more to come; every query after it asks for May only.
    expect(resourcePeriods()).toEqual(['2026-05-25..2026-06-04', '2026-05-25..2026-06-01', '2026-05-25..2026-06-01']);
    expect(failedCalls()).toEqual([]);
  });

  it('the later month has more of the days: its resources in detail, the earlier days service level, exact', async () => {
    const window = { start: '2026-05-29', end: '2026-06-08' };
    fake.addCosts(lambda('fn-a', window, '0.1'));
    fake.addCosts(lambda('fn-c', { start: '2026-05-29', end: '2026-05-31' }, '1'));
    fake.addCosts(lambda('fn-d', { start: '2026-06-02', end: '2026-06-04' }, '0.02'));
    fake.setPageSize(1);
    const { lines, total } = await collect(window, '2026-06-08');
    expect(lines).toEqual([
      ['(service level)', 'AWS Lambda', 'eu-west-2', '2.3'],
      ['fn-a', 'AWS Lambda', 'eu-west-2', '0.7'],
      ['fn-d', 'AWS Lambda', 'eu-west-2', '0.04'],
    ]);
    expect(total).toBe(expectedTotal(window));
    expect(resourcePeriods().slice(0, 2)).toEqual(['2026-05-29..2026-06-08', '2026-06-01..2026-06-08']);
  });

  it('the resources fit one page: detail on every day of both months, no extra call', async () => {
    const window = { start: '2026-05-25', end: '2026-06-04' };
    fake.addCosts(lambda('fn-a', window, '0.1'));
    fake.addCosts(lambda('fn-d', { start: '2026-06-02', end: '2026-06-04' }, '0.02'));
    const { lines, total } = await collect(window, '2026-06-04');
    expect(lines).toEqual([
      ['fn-a', 'AWS Lambda', 'eu-west-2', '1'],
      ['fn-d', 'AWS Lambda', 'eu-west-2', '0.04'],
    ]);
    expect(total).toBe(expectedTotal(window));
    expect(resourcePeriods()).toEqual(['2026-05-25..2026-06-04']);
  });

  it('narrowed to the earlier month, then two midnights pass: the start moves too, every day counted once', async () => {
    const window = { start: '2026-05-15', end: '2026-06-04' };
    fake.addCosts(lambda('fn-a', window, '0.1'));
    fake.addCosts(lambda('fn-b', window, '0.0000000003'));
    fake.setPageSize(1);
    let moved = false;
    const clockAt = (p: CollectionProgress | undefined) => {
      // Once the May-only query is under way, the clock moves to 2026-06-06: the start is now 05-24.
      const s = p?.segments[p.segmentIndex];
      moved ||= s?.kind === 'resource' && s.range.end === '2026-06-01' && p?.nextPageToken !== undefined;
      return moved ? '2026-06-06' : '2026-06-04';
    };
    const { result, lines, total } = await collect(window, '2026-06-04', clockAt);
    expect(result.resourceLevel).toBe('used');
    expect(lines).toEqual([
      ['(service level)', 'AWS Lambda', 'eu-west-2', '1.2000000036'],
      ['fn-a', 'AWS Lambda', 'eu-west-2', '0.8'],
      ['fn-b', 'AWS Lambda', 'eu-west-2', '0.0000000024'],
    ]);
    expect(total).toBe(expectedTotal(window));
    expect(resourcePeriods().at(-1)).toBe('2026-05-24..2026-06-01');
  });
});

describe('a refused resource-level query degrades that part of the report to service level', () => {
  const day = '2026-05-20';
  const window = { start: '2026-05-01', end: '2026-05-20' };

  it.each([
    [
      'ValidationException: a filter shape Cost Explorer does not take',
      () => fake.setOneServicePerResourceQuery(true),
      'ValidationException',
    ],
    [
      'AccessDeniedException on the resource query only',
      () => fake.failAt({ operation: 'GetCostAndUsageWithResources', status: 400, code: 'AccessDeniedException' }),
      'AccessDeniedException',
    ],
    [
      'DataUnavailableException: resource-level data off',
      () => fake.setResourceLevelEnabled(false),
      'DataUnavailableException',
    ],
  ])('%s', async (_what, refuse, error) => {
    fake.addCosts(
      dailyCosts({
        accountId: ACCOUNT,
        ...window,
        service: 'AWS Glue',
        resourceId: 'job-1',
        region: 'eu-west-2',
        amount: '0.25',
      }),
    );
    fake.addCosts(
      dailyCosts({
        accountId: ACCOUNT,
        ...window,
        service: 'Amazon Simple Storage Service',
        resourceId: 'b',
        region: 'us-east-1',
        amount: '0.01',
      }),
    );
    refuse();
    const { result, lines, total } = await collect(window, day);
    expect(result.resourceLevel).toBe('unavailable');
    expect(result.refusal?.error).toBe(error);
    expect(lines.every((l) => l[0] === SERVICE_LEVEL_RESOURCE)).toBe(true);
    expect(lines.map((l) => l.slice(1, 3).join('|')).sort()).toEqual([
      'AWS Glue|eu-west-2',
      'Amazon Simple Storage Service|us-east-1',
    ]);
    expect(total).toBe(expectedTotal(window));
    // One refused resource call, nothing more asked of it.
    expect(fake.calls.filter((c) => c.operation === 'GetCostAndUsageWithResources').map((c) => c.errorCode)).toEqual([
      error,
    ]);
  });

  it('MONTHLY refused as such: the resource query goes DAILY and stays resource level', async () => {
    fake.addCosts(
      dailyCosts({
        accountId: ACCOUNT,
        ...window,
        service: 'AWS Glue',
        resourceId: 'job-1',
        region: 'eu-west-2',
        amount: '0.25',
      }),
    );
    fake.setMonthlyResourcesAccepted(false);
    const { result, lines, total } = await collect(window, day);
    expect(result.resourceLevel).toBe('used');
    expect(lines.map((l) => l[0])).toEqual(['job-1', SERVICE_LEVEL_RESOURCE]);
    expect(total).toBe(expectedTotal(window));
    expect(
      fake.calls
        .filter((c) => c.operation === 'GetCostAndUsageWithResources')
        .map((c) => [(c.request as { Granularity: string }).Granularity, c.status]),
    ).toEqual([
      ['MONTHLY', 400],
      ['DAILY', 200],
    ]);
  });
});
