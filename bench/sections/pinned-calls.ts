// Section 2b: calls by calendar case. Whether the resource-level days (the last 14) span two
// months depends on the day the bench runs, and MONTHLY answers each resource once per month:
// the collection activity, on the same fake, at two pinned days, shows both cases on any day.
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { createCostExplorerActivities } from '../../activities/cost-explorer';
import { monthOfMostDays, splitByResourceHorizon } from '../../src/domain/billing-window';
import { reportRowsOf, stagedPartsOf, type CollectionProgress, type CollectionStep } from '../../src/domain/collection';
import { buildCostCsv } from '../../src/domain/csv';
import type { CostRow, DateRange } from '../../src/domain/schemas';
import { startFakeCostExplorer } from '../../support/fakes/cost-explorer';
import { callFloor, datasetLabel, makeLease, resourceDaysOf, SMALL, type CallFloor, type Dataset } from '../datasets';
import { printTable, type Cell } from '../format';
import type { Options } from '../options';
import { FAKE_PAGE_SIZE } from '../thresholds';

export interface PinnedRun {
  dataset: Dataset;
  today: string;
  crossMonth: boolean;
  /** The days the report has resource detail on (see resourceDaysOf). */
  resourceDays?: DateRange;
  calls: number;
  byOperation: Record<string, number>;
  floor: CallFloor;
  exact: boolean;
}

const PINNED_DAYS = ['2026-06-20', '2026-06-04'];

export async function pinnedCallsSection(opts: Options): Promise<PinnedRun[]> {
  const runs: PinnedRun[] = [];
  for (const today of PINNED_DAYS) {
    for (const [i, dataset] of [SMALL, opts.large].entries()) {
      const ce = await startFakeCostExplorer({ today, pageSize: FAKE_PAGE_SIZE });
      const client = new CostExplorerClient({
        region: 'us-east-1',
        endpoint: ce.endpoint,
        maxAttempts: 1,
        credentials: { accessKeyId: 'AKIAPINNED', secretAccessKey: 'pinned' },
      });
      try {
        const accountId = `5${String(i + 1).padStart(11, '0')}`;
        const nowMs = Date.parse(`${today}T12:00:00Z`);
        const lease = makeLease(dataset, { accountId, seed: 1000 + i, now: nowMs });
        ce.addCosts(lease.items);
        const parts = new Map<string, CostRow[]>();
        const { collectCostsPage } = createCostExplorerActivities({
          costExplorer: client,
          roleArn: 'arn:aws:iam::999988887777:role/bench',
          keyPrefix: '',
          staging: { putPart: async (k, rows) => void parts.set(k, rows), getPart: async (k) => parts.get(k) ?? [] },
          acquireCallSlot: async () => undefined,
          now: () => nowMs,
        });
        const split = splitByResourceHorizon(lease.window, today);
        const input = { leaseUuid: lease.uuid, accountId, version: 1, ...split };
        let step: CollectionStep = await collectCostsPage(input);
        while (!step.done) step = await collectCostsPage(input, step.progress as CollectionProgress);
        const rows = stagedPartsOf(step.result).flatMap((p) => reportRowsOf(p, parts.get(p.key) ?? []));
        const { total } = buildCostCsv(rows);
        const byOperation: Record<string, number> = {};
        for (const c of ce.calls) byOperation[c.operation] = (byOperation[c.operation] ?? 0) + 1;
        const r = split.resourceLevel;
        runs.push({
          dataset,
          today,
          calls: ce.calls.length,
          byOperation,
          crossMonth: r !== null && monthOfMostDays(r) !== undefined,
          resourceDays: resourceDaysOf(ce.calls),
          floor: callFloor(lease.items, {
            accountId,
            window: lease.window,
            resourceStart: r?.start,
            pageSize: FAKE_PAGE_SIZE,
          }),
          exact: total === ce.expectedTotal({ accountId, ...lease.window, recordType: 'Usage' }),
        });
      } finally {
        client.destroy();
        await ce.close();
      }
    }
  }
  return runs;
}

export function printPinnedCalls(runs: PinnedRun[]) {
  printTable(
    '2b. Cost Explorer calls per lease by calendar case (the collection activity on the fake, "today" pinned)',
    [
      'dataset',
      'today',
      'resource days span two months',
      'resource detail',
      'lease-costs calls',
      'floor (report lines)',
      'floor (as MONTHLY returns them)',
      'CSV total exact',
    ],
    runs.map((r): Cell[] => [
      datasetLabel(r.dataset),
      r.today,
      r.crossMonth ? 'yes' : 'no',
      r.resourceDays ? `${r.resourceDays.start}..${r.resourceDays.end}` : 'none',
      r.calls,
      r.floor.floor,
      r.floor.floorMonthly,
      r.exact ? 'yes' : 'NO',
    ]),
    [
      'Same datasets, seeds and fake page size as table 2; the lease ends on the pinned day. Floors as in table 2.',
      'Resource detail: the days the resource queries asked for (end exclusive). More than a page of resources across a month boundary keeps detail on the month with more of the days (docs/cost-explorer.md).',
      ...runs.map((r) => `${r.dataset.name} at ${r.today}: ${JSON.stringify(r.byOperation)}`),
    ],
  );
}
