// Sections 2 and 4: the reference datasets through the real workflow and worker, the Lambda
// design's queries replayed on the same fake, and each run's history (printed by history.ts).
import proto from '@temporalio/proto';
import { monthOfMostDays, splitByResourceHorizon, utcDay } from '../../src/domain/billing-window';
import type { DateRange } from '../../src/domain/schemas';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { startFakeCostExplorer } from '../../support/fakes/cost-explorer';
import { startFakeIsbApi } from '../../support/fakes/isb-api';
import type { LeaseCostsResult } from '../../workflows';
import { dailySeriesCalls, type DailySeriesCalls } from '../daily-calls';
import {
  accountOf,
  callFloor,
  datasetLabel,
  makeLease,
  resourceDaysOf,
  SMALL,
  type CallFloor,
  type Dataset,
} from '../datasets';
import { log, printTable, round, type Cell } from '../format';
import type { Infra } from '../infra';
import { LAMBDA_MAX_PAGES, replayLambda, type LambdaReplayResult } from '../lambda-replay';
import type { Options } from '../options';
import { CAP_RPS, FAKE_PAGE_SIZE } from '../thresholds';

export interface DatasetRun {
  dataset: Dataset;
  window: { start: string; end: string };
  costRecords: number;
  ours: {
    calls: number;
    byOperation: Record<string, number>;
    rowCount: number;
    resourceLevel: string;
    totalMatchesFake: boolean;
    seconds: number;
    /** First to last Cost Explorer call of the lease (s); the pacer's floor is (calls − 1) / cap. */
    collectionSeconds: number;
  };
  dailySeries: DailySeriesCalls;
  lambda: LambdaReplayResult & { callsFromLog: number };
  ratio: number;
  floor: CallFloor;
  /** Whether the resource-level days span two calendar months (MONTHLY returns each resource once per month). */
  resourceDaysCrossMonth: boolean;
  /** The days the report has resource detail on (see resourceDaysOf). */
  resourceDays?: DateRange;
  history: { events: number; bytes: number };
}

export async function datasetSection(infra: Infra, opts: Options): Promise<DatasetRun[]> {
  const aws = await infra.aws();
  const ce = await startFakeCostExplorer();
  infra.defer('Cost Explorer fake (datasets)', () => ce.close());
  const isb = await startFakeIsbApi({ jwtSecret: aws.jwtSecret });
  infra.defer('ISB API fake (datasets)', () => isb.close());
  const client = await infra.client();
  const taskQueue = `bench-datasets-${infra.id}`;
  const env = await infra.workerEnv({
    ceEndpoint: ce.endpoint,
    isbEndpoint: isb.endpoint,
    taskQueue,
    maxRps: CAP_RPS,
    paddingHours: 1,
  });
  const worker = await infra.startInProcessWorker(env);
  const runs: DatasetRun[] = [];
  try {
    for (const [i, dataset] of [SMALL, opts.large].entries()) {
      const accountId = `4${String(i + 1).padStart(11, '0')}`;
      // A 5 s settle timer, so the history has the timer every production run has.
      const lease = makeLease(dataset, {
        accountId,
        seed: 1000 + i,
        settleMs: 5_000,
        userEmail: `bench.${i}@example.gov.uk`,
      });
      ce.addCosts(lease.items);
      isb.addLease({
        uuid: lease.uuid,
        userEmail: lease.userEmail,
        accountId,
        startDate: lease.startDate,
        endDate: lease.terminatedAt,
        status: 'Expired',
      });
      log(
        `${dataset.name} dataset: ${lease.items.length} cost records over ${lease.window.start}..${lease.window.end}; running the workflow…`,
      );
      ce.resetCalls();
      const t0 = performance.now();
      await startLeaseCosts(client, taskQueue, {
        leaseUuid: lease.uuid,
        userEmail: lease.userEmail,
        accountId,
        terminatedAt: lease.terminatedAt,
        paddingHours: lease.paddingHours,
        rerunWindowHours: 0,
      });
      const handle = client.workflow.getHandle(workflowIdFor(lease.uuid));
      const result = await withTimeout(
        handle.result() as Promise<LeaseCostsResult>,
        600_000,
        `${dataset.name} dataset workflow`,
      );
      const seconds = (performance.now() - t0) / 1000;
      const ourCalls = ce.calls.filter((c) => accountOf(c) === accountId);
      const byOperation: Record<string, number> = {};
      for (const c of ourCalls) byOperation[c.operation] = (byOperation[c.operation] ?? 0) + 1;
      const expected = ce.expectedTotal({
        accountId,
        start: result.billingWindow.start,
        end: result.billingWindow.end,
        recordType: 'Usage',
      });

      const dailySeries = await dailySeriesCalls(ce.endpoint, ourCalls);
      const history = await handle.fetchHistory();
      const historyBytes = proto.temporal.api.history.v1.History.encode(history).finish().length;

      const resourceLevel = splitByResourceHorizon(
        result.billingWindow,
        utcDay(new Date().toISOString()),
      ).resourceLevel;
      const floor = callFloor(lease.items, {
        accountId,
        window: result.billingWindow,
        resourceStart: resourceLevel?.start,
        pageSize: FAKE_PAGE_SIZE,
      });
      log(`${dataset.name} dataset: replaying the Lambda design's queries…`);
      ce.resetCalls();
      const lambda = await replayLambda(ce.endpoint, {
        accountId,
        window: result.billingWindow,
        today: utcDay(new Date().toISOString()),
      });
      const lambdaFromLog = ce.calls.filter((c) => accountOf(c) === accountId).length;
      runs.push({
        dataset,
        window: result.billingWindow,
        costRecords: lease.items.length,
        ours: {
          calls: ourCalls.length,
          byOperation,
          rowCount: result.rowCount,
          resourceLevel: result.resourceLevel,
          totalMatchesFake: result.total === expected,
          seconds: round(seconds, 1),
          collectionSeconds: round(
            (Math.max(...ourCalls.map((c) => c.at)) - Math.min(...ourCalls.map((c) => c.at))) / 1000,
            2,
          ),
        },
        dailySeries,
        lambda: { ...lambda, callsFromLog: lambdaFromLog },
        ratio: round(lambdaFromLog / ourCalls.length, 2),
        floor,
        resourceDaysCrossMonth: resourceLevel !== null && monthOfMostDays(resourceLevel) !== undefined,
        resourceDays: resourceDaysOf(ourCalls),
        history: { events: history.events?.length ?? 0, bytes: historyBytes },
      });
      lease.items = [];
    }
  } finally {
    await worker.stop();
  }
  return runs;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function printCalls(runs: DatasetRun[]) {
  printTable(
    '2. Cost Explorer calls per lease: lease-costs vs the Lambda design, same data, same fake',
    [
      'dataset',
      'window',
      'report rows',
      'lease-costs calls',
      'floor (report lines)',
      'floor (as MONTHLY returns them)',
      'resource days span two months',
      'service-level calls DAILY / MONTHLY',
      'extra calls for the daily series',
      'Lambda calls',
      'Lambda: list + resource + service',
      'Lambda longest query (pages)',
      'ratio Lambda/ours',
    ],
    runs.map((r): Cell[] => [
      datasetLabel(r.dataset),
      `${r.window.start}..${r.window.end}`,
      r.ours.rowCount,
      r.ours.calls,
      r.floor.floor,
      r.floor.floorMonthly,
      r.resourceDaysCrossMonth ? 'yes' : 'no',
      `${r.dailySeries.daily} / ${r.dailySeries.monthly}`,
      r.dailySeries.daily - r.dailySeries.monthly,
      r.lambda.callsFromLog,
      `${r.lambda.serviceListCalls} + ${r.lambda.resourceLevelCalls} + ${r.lambda.serviceLevelCalls}`,
      r.lambda.maxPagesOneQuery,
      `${r.ratio}x`,
    ]),
    [
      "Counts are from the fake's call log (fake page size 500 groups). lease-costs: the real workflow and worker; CSV total equals the fake's Usage total: " +
        runs.map((r) => `${r.dataset.name} ${r.ours.totalMatchesFake ? 'yes' : 'NO'}`).join(', ') +
        '.',
      'Lambda design replayed with the AWS SDK: service list (GetCostAndUsage by SERVICE), one GetCostAndUsageWithResources per service (last 14 days),',
      `GetCostAndUsage by SERVICE for older days; DAILY granularity as in the Lambda source; its ${LAMBDA_MAX_PAGES}-page cap not applied.`,
      "Daily series: the run's GetCostAndUsage queries (SERVICE x REGION, DAILY) replayed MONTHLY on the same fake, as they ran before the series existed;",
      "the difference is what the summary's cost per day, service and region costs (AmortizedCost rides on the same calls).",
      "Floor: the pages at that page size of the report's resource lines (one per service, resource, region) plus the daily series (one per day, service, region),",
      "which also carries the older days' service-level lines. As MONTHLY returns them, a resource line comes once per calendar month: when the resource-level days",
      "span two months (the run's day of month ≤ 13), most lines come twice, and no query shape avoids it: more than a page of them narrows the resource days",
      'to the month with more of them (the targets say which days; table 2b shows both cases on pinned days). Both floors assume detail on all 14 days.',
      ...runs.map(
        (r) =>
          `lease-costs ${r.dataset.name}: collection ${r.ours.collectionSeconds} s from the first call to the last, the pacer's floor ${round((r.ours.calls - 1) / CAP_RPS, 2)} s ((calls − 1) / ${CAP_RPS}/s).`,
      ),
      ...runs.map(
        (r) =>
          `lease-costs ${r.dataset.name}: ${JSON.stringify(r.ours.byOperation)}, resource level ${r.ours.resourceLevel}, ${r.costRecords} cost records in the fake; ` +
          `${r.floor.resourceLines} resource lines (${r.floor.resourceGroups} as MONTHLY groups), ${r.floor.dailyEntries} daily entries.`,
      ),
    ],
  );
}
