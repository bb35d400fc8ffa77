// `npm run bench`: the lease-costs benchmark on the local stack (Temporal dev server, moto, the Cost
// Explorer and ISB API fakes). Prints one table per section plus a targets table, and appends the
// run to bench/results/<YYYY-MM-DD>.json with the machine it ran on.
//
//   node --import tsx bench/run.ts [--only burst,calls,report,history,webhook] [--leases N] [--quick]
//                                  [--requests N] [--rows N]
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import proto from '@temporalio/proto';
import { addDays as addDayStr, splitByResourceHorizon, utcDay } from '../src/domain/billing-window';
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { createCostExplorerActivities } from '../activities/cost-explorer';
import { inputFromEvent, leaseStartOptions, startLeaseCosts, WORKFLOW_TYPE, workflowIdFor } from '../src/infrastructure/client';
import { freePort } from '../support/ports';
import type { LeaseCostsInput } from '../src/domain/schemas';
import { repoRoot, spawnManaged } from '../support/tools';
import { WEBHOOK_PATH } from '../src/interfaces/webhook-server';
import { mostWithinOneSecond, startFakeCostExplorer } from '../support/fakes/cost-explorer';
import { startFakeIsbApi } from '../support/fakes/isb-api';
import { sampleLeaseTerminatedEvent } from '../support/fakes/sample-data';
import type { LeaseCostsResult } from '../workflows';
import { createStagingStore } from '../activities/staging-store';
import { reportRowsOf, stagedPartsOf, stagingPrefix, type CollectionProgress, type CollectionResult, type CollectionStep } from '../src/domain/collection';
import type { CostRow } from '../src/domain/schemas';
import { clientConfig } from '../support/aws';
import { costRows } from '../support/cost-rows';
import { buildCostCsv } from '../src/domain/csv';
import { accountOf, callFloor, LARGE, LARGE_QUICK, makeLease, SMALL, type BenchLease, type CallFloor, type Dataset } from './datasets';
import { kib, log, mib, percentile, pool, printTable, round, type Cell } from './format';
import { Infra } from './infra';
import { workerNodeFlags } from './node-flags';
import { dailySeriesCalls, type DailySeriesCalls } from './daily-calls';
import { LAMBDA_MAX_PAGES, replayLambda, type LambdaReplayResult } from './lambda-replay';

const SECTIONS = ['burst', 'calls', 'report', 'history', 'webhook'] as const;
type Section = (typeof SECTIONS)[number];

// Targets from the benchmark issue.
const CAP_RPS = 4;
const FAKE_THROTTLE_RPS = 5;
const TARGET_RATE_SHARE = 0.9;
const TARGET_RATIO_AIM = 5;
/** Cost Explorer calls per lease, at most: the targets docs/benchmarks.md states. */
const TARGET_CALLS: Record<string, number> = { small: 3, large: 25 };
/** The fake's page size: the floor's too. */
const FAKE_PAGE_SIZE = 500;
const TARGET_HISTORY_EVENTS = 60;
const TARGET_HISTORY_BYTES = 64 * 1024;
const TARGET_WRITE_REPORT_RSS_BYTES = 512 * 1024 * 1024;
// Well inside writeReport's 30 s heartbeat timeout, and short enough that the worker's other tasks
// are not held up noticeably.
const TARGET_MAX_STALL_MS = 1_000;
const TARGET_WEBHOOK_RATIO = 0.9;
const WEBHOOK_CONCURRENCY = 32;
const WEBHOOK_BLOCKS = 10;

interface Options {
  only: Set<Section>;
  quick: boolean;
  leases: number;
  requests: number;
  rows: number;
  large: Dataset;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      leases: { type: 'string' },
      requests: { type: 'string' },
      rows: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: node --import tsx bench/run.ts [--only burst,calls,report,history,webhook] [--leases N] [--quick] [--requests N] [--rows N]');
    process.exit(0);
  }
  const positive = (name: string, raw: string | undefined, dflt: number) => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section ${name} (sections: ${SECTIONS.join(', ')})`);
    only.add(name as Section);
  }
  const quick = values.quick ?? false;
  return {
    only,
    quick,
    leases: positive('leases', values.leases, quick ? 20 : 500),
    requests: positive('requests', values.requests, quick ? 200 : 2_000),
    rows: positive('rows', values.rows, quick ? 10_000 : 100_000),
    large: quick ? LARGE_QUICK : LARGE,
  };
}

// ---------------------------------------------------------------------------------------------
// Machine

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machineInfo() {
  const cpus = os.cpus();
  const dirty = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    commit: git(['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    /** Tracked files with uncommitted changes when the run started: the code measured is HEAD plus those. */
    uncommittedFiles: dirty === undefined ? undefined : dirty.split('\n').filter(Boolean).length,
    loadAverageAtStart: os.loadavg().map((l) => round(l)),
  };
}

// ---------------------------------------------------------------------------------------------
// Section 1: burst

interface BurstResult {
  leases: number;
  workers: number;
  maxRpsPerProcess: number;
  fakeThrottleAboveRps: number;
  wallSeconds: number;
  startAllSeconds: number;
  completed: number;
  failed: number;
  unfinished: number;
  failureTypes: Record<string, number>;
  calls: number;
  okCalls: number;
  throttledCalls: number;
  /** Throttled calls in the first 5 s: the server's token bucket starts full. */
  throttledInFirst5s: number;
  /** Most calls that arrived within any one second. */
  peakCallsPerSecond: number;
  otherErrorCalls: number;
  callsPerLease: number;
  collectionSeconds: number;
  acceptedRatePerSecond: number;
  attemptedRatePerSecond: number;
  achievedShareOfCap: number;
}

/** Events per second between the first and the last event: (n − 1) / span. */
function rateOf(times: number[]): { rate: number; spanSeconds: number } {
  if (times.length < 2) return { rate: Number.NaN, spanSeconds: 0 };
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return { rate: span > 0 ? (times.length - 1) / span : Number.NaN, spanSeconds: span };
}

async function burstSection(infra: Infra, opts: Options): Promise<BurstResult> {
  const n = opts.leases;
  const aws = await infra.aws();
  const ce = await startFakeCostExplorer({ throttle: { maxRps: FAKE_THROTTLE_RPS } });
  infra.defer('Cost Explorer fake (burst)', () => ce.close());
  const isb = await startFakeIsbApi({ jwtSecret: aws.jwtSecret });
  infra.defer('ISB API fake (burst)', () => isb.close());
  const client = await infra.client();
  const taskQueue = `bench-burst-${infra.id}`;
  const env = await infra.workerEnv({ ceEndpoint: ce.endpoint, isbEndpoint: isb.endpoint, taskQueue, maxRps: CAP_RPS, paddingHours: 0 });

  log(`burst: loading ${n} leases (small dataset each) into the fakes…`);
  const now = Date.now();
  const leases: BenchLease[] = Array.from({ length: n }, (_, i) =>
    makeLease(SMALL, { accountId: `3${String(i).padStart(11, '0')}`, seed: i + 1, now, userEmail: `burst.${i}@example.gov.uk` }));
  for (const lease of leases) {
    ce.addCosts(lease.items);
    isb.addLease({ uuid: lease.uuid, userEmail: lease.userEmail, accountId: lease.accountId, startDate: lease.startDate, endDate: lease.terminatedAt, status: 'Expired' });
    lease.items = [];
  }

  log('burst: starting 2 worker processes…');
  const workers = await infra.startChildWorkers(env, 2);
  const failureTypes: Record<string, number> = {};
  let completed = 0;
  let failed = 0;
  let unfinished = 0;
  let wallMs: number;
  let startAllMs: number;
  try {
    ce.resetCalls();
    ce.setThrottle({ maxRps: FAKE_THROTTLE_RPS });
    log(`burst: ${n} LeaseTerminated at once (padding 0)…`);
    const t0 = performance.now();
    await pool(leases, 32, (lease) => startLeaseCosts(client, taskQueue, {
      leaseUuid: lease.uuid, userEmail: lease.userEmail, accountId: lease.accountId,
      terminatedAt: lease.terminatedAt, paddingHours: 0, rerunWindowHours: 0,
    }));
    startAllMs = performance.now() - t0;
    const timeoutMs = 120_000 + n * 2_000;
    // Past the deadline, waiting stops (and the pending long polls are cancelled): the rest count as unfinished.
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // one listener per pending long poll
    let timedOut!: () => void;
    const deadline = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => {
        abort.abort();
        resolve('timeout');
      }, timeoutMs);
      timedOut = () => clearTimeout(timer);
    });
    let done = 0;
    await pool(leases, 64, async (lease) => {
      if (abort.signal.aborted) {
        unfinished++;
        return;
      }
      const outcome = client.connection.withAbortSignal(abort.signal, () => client.workflow.getHandle(workflowIdFor(lease.uuid)).result())
        .then(() => 'ok' as const, (err: Error & { cause?: Error & { type?: string } }) => err.cause?.type ?? err.cause?.name ?? err.name);
      const r = await Promise.race([outcome, deadline]);
      if (r === 'ok') completed++;
      else if (r === 'timeout') unfinished++;
      else {
        failed++;
        failureTypes[r] = (failureTypes[r] ?? 0) + 1;
      }
      if (++done % Math.max(1, Math.floor(n / 10)) === 0) log(`burst: ${done}/${n} settled, ${ce.stats().throttled} throttled calls so far`);
    });
    timedOut();
    wallMs = performance.now() - t0;
  } finally {
    await workers.stop();
  }

  const stats = ce.stats();
  const ok = ce.calls.filter((c) => c.status === 200);
  const accepted = rateOf(ok.map((c) => c.at));
  const attempted = rateOf(ce.calls.map((c) => c.at));
  const firstAt = Math.min(...ce.calls.map((c) => c.at));
  return {
    leases: n, workers: 2, maxRpsPerProcess: CAP_RPS, fakeThrottleAboveRps: FAKE_THROTTLE_RPS,
    wallSeconds: round(wallMs / 1000, 1), startAllSeconds: round(startAllMs / 1000, 1),
    completed, failed, unfinished, failureTypes,
    calls: stats.total, okCalls: stats.ok, throttledCalls: stats.throttled, otherErrorCalls: stats.failed,
    throttledInFirst5s: ce.calls.filter((c) => c.errorCode === 'LimitExceededException' && c.at - firstAt < 5000).length,
    peakCallsPerSecond: mostWithinOneSecond(ce.calls.map((c) => c.at)),
    callsPerLease: round(stats.total / n, 2),
    collectionSeconds: round(attempted.spanSeconds, 1),
    acceptedRatePerSecond: round(accepted.rate, 2),
    attemptedRatePerSecond: round(attempted.rate, 2),
    achievedShareOfCap: round(accepted.rate / CAP_RPS, 3),
  };
}

function printBurst(r: BurstResult, opts: Options) {
  printTable(`1. Burst: ${r.leases} leases terminated at once, ${r.workers} worker processes${opts.quick ? ' (quick)' : ''}`, ['measure', 'value'], [
    ['leases (small dataset each, padding 0)', r.leases],
    ['wall time, first start to last result (s)', r.wallSeconds],
    ['  of which starting all workflows (s)', r.startAllSeconds],
    ['completed / failed / unfinished', `${r.completed} / ${r.failed} / ${r.unfinished}`],
    ['Cost Explorer calls (fake log)', r.calls],
    ['  accepted / throttled / other errors', `${r.okCalls} / ${r.throttledCalls} / ${r.otherErrorCalls}`],
    ['  throttled in the first 5 s', r.throttledInFirst5s],
    ['most calls arriving within one second', r.peakCallsPerSecond],
    ['calls per lease', r.callsPerLease],
    ['collection period, first to last call (s)', r.collectionSeconds],
    ['accepted call rate (calls/s)', r.acceptedRatePerSecond],
    ['attempted call rate incl. throttled (calls/s)', r.attemptedRatePerSecond],
    [`achieved rate / cap (${CAP_RPS}/s)`, `${round(r.achievedShareOfCap * 100, 1)}%`],
  ], [
    `COST_EXPLORER_MAX_RPS=${r.maxRpsPerProcess}, given to both workers: the spacing of the pacer workflow's call slots, the one limiter (default task-queue partitions, no server dynamic config). The fake throttles calls beyond ${r.fakeThrottleAboveRps} accepted in the trailing second.`,
    'Rates are (calls − 1) / (last call − first call), from the fake\'s call log.',
    ...(Object.keys(r.failureTypes).length ? [`Failure types: ${JSON.stringify(r.failureTypes)}`] : []),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Sections 2 and 4: the reference datasets through the real workflow, and the Lambda replay

interface DatasetRun {
  dataset: Dataset;
  window: { start: string; end: string };
  costRecords: number;
  ours: { calls: number; byOperation: Record<string, number>; rowCount: number; resourceLevel: string; totalMatchesFake: boolean; seconds: number };
  dailySeries: DailySeriesCalls;
  lambda: LambdaReplayResult & { callsFromLog: number };
  ratio: number;
  floor: CallFloor;
  /** Whether the resource-level days span two calendar months (MONTHLY returns each resource once per month). */
  resourceDaysCrossMonth: boolean;
  history: { events: number; bytes: number };
}

async function datasetSection(infra: Infra, opts: Options): Promise<DatasetRun[]> {
  const aws = await infra.aws();
  const ce = await startFakeCostExplorer();
  infra.defer('Cost Explorer fake (datasets)', () => ce.close());
  const isb = await startFakeIsbApi({ jwtSecret: aws.jwtSecret });
  infra.defer('ISB API fake (datasets)', () => isb.close());
  const client = await infra.client();
  const taskQueue = `bench-datasets-${infra.id}`;
  const env = await infra.workerEnv({ ceEndpoint: ce.endpoint, isbEndpoint: isb.endpoint, taskQueue, maxRps: CAP_RPS, paddingHours: 1 });
  const worker = await infra.startInProcessWorker(env);
  const runs: DatasetRun[] = [];
  try {
    for (const [i, dataset] of [SMALL, opts.large].entries()) {
      const accountId = `4${String(i + 1).padStart(11, '0')}`;
      // A 5 s settle timer, so the history has the timer every production run has.
      const lease = makeLease(dataset, { accountId, seed: 1000 + i, settleMs: 5_000, userEmail: `bench.${i}@example.gov.uk` });
      ce.addCosts(lease.items);
      isb.addLease({ uuid: lease.uuid, userEmail: lease.userEmail, accountId, startDate: lease.startDate, endDate: lease.terminatedAt, status: 'Expired' });
      log(`${dataset.name} dataset: ${lease.items.length} cost records over ${lease.window.start}..${lease.window.end}; running the workflow…`);
      ce.resetCalls();
      const t0 = performance.now();
      await startLeaseCosts(client, taskQueue, {
        leaseUuid: lease.uuid, userEmail: lease.userEmail, accountId, terminatedAt: lease.terminatedAt,
        paddingHours: lease.paddingHours, rerunWindowHours: 0,
      });
      const handle = client.workflow.getHandle(workflowIdFor(lease.uuid));
      const result = await withTimeout(handle.result() as Promise<LeaseCostsResult>, 600_000, `${dataset.name} dataset workflow`);
      const seconds = (performance.now() - t0) / 1000;
      const ourCalls = ce.calls.filter((c) => accountOf(c) === accountId);
      const byOperation: Record<string, number> = {};
      for (const c of ourCalls) byOperation[c.operation] = (byOperation[c.operation] ?? 0) + 1;
      const expected = ce.expectedTotal({ accountId, start: result.billingWindow.start, end: result.billingWindow.end, recordType: 'Usage' });

      const dailySeries = await dailySeriesCalls(ce.endpoint, ourCalls);
      const history = await handle.fetchHistory();
      const historyBytes = proto.temporal.api.history.v1.History.encode(history).finish().length;

      const resourceLevel = splitByResourceHorizon(result.billingWindow, utcDay(new Date().toISOString())).resourceLevel;
      const floor = callFloor(lease.items, { accountId, window: result.billingWindow, resourceStart: resourceLevel?.start, pageSize: FAKE_PAGE_SIZE });
      log(`${dataset.name} dataset: replaying the Lambda design's queries…`);
      ce.resetCalls();
      const lambda = await replayLambda(ce.endpoint, { accountId, window: result.billingWindow, today: utcDay(new Date().toISOString()) });
      const lambdaFromLog = ce.calls.filter((c) => accountOf(c) === accountId).length;
      runs.push({
        dataset,
        window: result.billingWindow,
        costRecords: lease.items.length,
        ours: { calls: ourCalls.length, byOperation, rowCount: result.rowCount, resourceLevel: result.resourceLevel, totalMatchesFake: result.total === expected, seconds: round(seconds, 1) },
        dailySeries,
        lambda: { ...lambda, callsFromLog: lambdaFromLog },
        ratio: round(lambdaFromLog / ourCalls.length, 2),
        floor,
        resourceDaysCrossMonth: resourceLevel !== null && resourceLevel.start.slice(0, 7) !== addDayStr(resourceLevel.end, -1).slice(0, 7),
        history: { events: history.events?.length ?? 0, bytes: historyBytes },
      });
      lease.items = [];
    }
  } finally {
    await worker.stop();
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Section 2b: calls by calendar case. Whether the resource-level days (the last 14) span two
// months depends on the day the bench runs, and MONTHLY answers each resource once per month:
// the collection activity, on the same fake, at two pinned days, shows both cases on any day.

interface PinnedRun {
  dataset: Dataset;
  today: string;
  crossMonth: boolean;
  calls: number;
  byOperation: Record<string, number>;
  floor: CallFloor;
  exact: boolean;
}

const PINNED_DAYS = ['2026-06-20', '2026-06-04'];

async function pinnedCallsSection(opts: Options): Promise<PinnedRun[]> {
  const runs: PinnedRun[] = [];
  for (const today of PINNED_DAYS) {
    for (const [i, dataset] of [SMALL, opts.large].entries()) {
      const ce = await startFakeCostExplorer({ today, pageSize: FAKE_PAGE_SIZE });
      const client = new CostExplorerClient({ region: 'us-east-1', endpoint: ce.endpoint, maxAttempts: 1, credentials: { accessKeyId: 'AKIAPINNED', secretAccessKey: 'pinned' } });
      try {
        const accountId = `5${String(i + 1).padStart(11, '0')}`;
        const nowMs = Date.parse(`${today}T12:00:00Z`);
        const lease = makeLease(dataset, { accountId, seed: 1000 + i, now: nowMs });
        ce.addCosts(lease.items);
        const parts = new Map<string, CostRow[]>();
        const { collectCostsPage } = createCostExplorerActivities({
          costExplorer: client, roleArn: 'arn:aws:iam::999988887777:role/bench', keyPrefix: '',
          staging: { putPart: async (k, rows) => void parts.set(k, rows), getPart: async (k) => parts.get(k) ?? [] },
          acquireCallSlot: async () => undefined, now: () => nowMs,
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
          dataset, today, calls: ce.calls.length, byOperation,
          crossMonth: r !== null && r.start.slice(0, 7) !== addDayStr(r.end, -1).slice(0, 7),
          floor: callFloor(lease.items, { accountId, window: lease.window, resourceStart: r?.start, pageSize: FAKE_PAGE_SIZE }),
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

function printPinnedCalls(runs: PinnedRun[]) {
  printTable('2b. Cost Explorer calls per lease by calendar case (the collection activity on the fake, "today" pinned)', [
    'dataset', 'today', 'resource days span two months', 'lease-costs calls', 'floor (report lines)', 'floor (as MONTHLY returns them)', 'CSV total exact',
  ], runs.map((r): Cell[] => [
    datasetLabel(r.dataset), r.today, r.crossMonth ? 'yes' : 'no', r.calls, r.floor.floor, r.floor.floorMonthly, r.exact ? 'yes' : 'NO',
  ]), [
    'Same datasets, seeds and fake page size as table 2; the lease ends on the pinned day. Floors as in table 2.',
    ...runs.map((r) => `${r.dataset.name} at ${r.today}: ${JSON.stringify(r.byOperation)}`),
  ]);
}

function datasetLabel(d: Dataset) {
  return `${d.name}: ${d.services} services, ${d.resources.toLocaleString('en')} resources, ${d.days} days`;
}

function printCalls(runs: DatasetRun[]) {
  printTable('2. Cost Explorer calls per lease: lease-costs vs the Lambda design, same data, same fake', [
    'dataset', 'window', 'report rows', 'lease-costs calls', 'floor (report lines)', 'floor (as MONTHLY returns them)', 'resource days span two months',
    'service-level calls DAILY / MONTHLY', 'extra calls for the daily series',
    'Lambda calls', 'Lambda: list + resource + service', 'Lambda longest query (pages)', 'ratio Lambda/ours',
  ], runs.map((r): Cell[] => [
    datasetLabel(r.dataset), `${r.window.start}..${r.window.end}`, r.ours.rowCount, r.ours.calls, r.floor.floor, r.floor.floorMonthly, r.resourceDaysCrossMonth ? 'yes' : 'no',
    `${r.dailySeries.daily} / ${r.dailySeries.monthly}`, r.dailySeries.daily - r.dailySeries.monthly, r.lambda.callsFromLog,
    `${r.lambda.serviceListCalls} + ${r.lambda.resourceLevelCalls} + ${r.lambda.serviceLevelCalls}`,
    r.lambda.maxPagesOneQuery, `${r.ratio}x`,
  ]), [
    'Counts are from the fake\'s call log (fake page size 500 groups). lease-costs: the real workflow and worker; CSV total equals the fake\'s Usage total: ' +
      runs.map((r) => `${r.dataset.name} ${r.ours.totalMatchesFake ? 'yes' : 'NO'}`).join(', ') + '.',
    'Lambda design replayed with the AWS SDK: service list (GetCostAndUsage by SERVICE), one GetCostAndUsageWithResources per service (last 14 days),',
    `GetCostAndUsage by SERVICE for older days; DAILY granularity as in the Lambda source; its ${LAMBDA_MAX_PAGES}-page cap not applied.`,
    'Daily series: the run\'s GetCostAndUsage queries (SERVICE x REGION, DAILY) replayed MONTHLY on the same fake, as they ran before the series existed;',
    'the difference is what the summary\'s cost per day, service and region costs (AmortizedCost rides on the same calls).',
    'Floor: the pages at that page size of the report\'s resource lines (one per service, resource, region) plus the daily series (one per day, service, region),',
    'which also carries the older days\' service-level lines. As MONTHLY returns them, a resource line comes once per calendar month: when the resource-level days',
    'span two months (the run\'s day of month ≤ 13), most lines come twice, and no query shape avoids it (table 2b shows both cases on pinned days).',
    ...runs.map((r) => `lease-costs ${r.dataset.name}: ${JSON.stringify(r.ours.byOperation)}, resource level ${r.ours.resourceLevel}, ${r.costRecords} cost records in the fake; `
      + `${r.floor.resourceLines} resource lines (${r.floor.resourceGroups} as MONTHLY groups), ${r.floor.dailyEntries} daily entries.`),
  ]);
}

function printHistory(runs: DatasetRun[]) {
  printTable('4. Workflow history per lease (closed run: settle timer, collect, report, publish, re-run window 0)', [
    'dataset', 'events', 'bytes', 'KiB',
  ], runs.map((r): Cell[] => [datasetLabel(r.dataset), r.history.events, r.history.bytes, kib(r.history.bytes)]), [
    'bytes = temporal.api.history.v1.History.encode(history).finish().length',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Section 3: report build, and writeReport end to end

type BuildVariant = 'lambda' | 'before' | 'ours';
const BUILD_VARIANTS: BuildVariant[] = ['lambda', 'before', 'ours'];

interface BuildRun {
  variant: BuildVariant;
  rows: number;
  rowCount: number;
  total?: string;
  bytes?: number;
  chars?: number;
  sha256?: string;
  /** The part of buildMs spent hashing. */
  sha256Ms?: number;
  buildMs: number;
  cpuMs: number;
  idleKiB: number;
  withInputKiB: number;
  peakKiB: number;
}

interface WriteReportRun {
  rows: number;
  rowCount: number;
  bytes: number;
  checksumSha256: string;
  /** The object read back from S3 and hashed here. */
  downloadedSha256Matches: boolean;
  stagedPages: number;
  stagingSeconds: number;
  wallMs: number;
  idleKiB: number;
  peakKiB: number;
  heartbeats: number;
  maxHeartbeatGapMs: number;
  maxEventLoopDelayMs: number;
}

interface ReportResult {
  rows: number;
  rounds: number;
  builds: BuildRun[];
  writeReport: WriteReportRun[];
}

const median = (xs: number[]) => percentile(xs, 50);
const growthKiB = (r: { idleKiB: number; peakKiB: number }) => r.peakKiB - r.idleKiB;
const STAGED_ROWS_PER_PAGE = 1_000;
const WRITE_REPORT_SEED = 1_000_016;

/** A child process with the worker's node flags (the build and writeReport run in the worker). */
async function runChild(infra: Infra, name: string, args: string[], env: Record<string, string> = {}): Promise<unknown> {
  const flags = [...workerNodeFlags(), ...args.filter((a) => a.startsWith('--'))];
  const child = spawnManaged(process.execPath, [...flags, '--import', 'tsx', ...args.filter((a) => !a.startsWith('--'))], {
    cwd: repoRoot, env: { ...process.env, ...env },
  });
  infra.defer(name, () => child.stop(2_000));
  let stdout = '';
  child.process.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const code = await child.exited;
  if (code !== 0) throw new Error(`${name} exited with ${code}:\n${child.outputTail()}`);
  const line = stdout.trim().split('\n').at(-1);
  if (!line) throw new Error(`${name} printed nothing:\n${child.outputTail()}`);
  return JSON.parse(line);
}

/** Stages `rows` generated rows as the collect activity would, and returns the collection. */
async function stageRows(s3: S3Client, bucket: string, leaseUuid: string, rows: number): Promise<CollectionResult> {
  const staging = createStagingStore(s3, bucket);
  const segment = { kind: 'resource' as const, region: 'eu-west-2', range: { start: '2026-11-01', end: '2026-12-01' }, pages: Math.ceil(rows / STAGED_ROWS_PER_PAGE) };
  const collection: CollectionResult = {
    stagingPrefix: stagingPrefix('reports/', leaseUuid, 1), segments: [segment], pages: segment.pages, calls: segment.pages, resourceLevel: 'used',
  };
  const keys = stagedPartsOf(collection).filter((p) => p.report).map((p) => p.key);
  const generator = costRows(rows, WRITE_REPORT_SEED, { duplicateEvery: 10 });
  const pages = function* () {
    for (const key of keys) {
      const page: CostRow[] = [];
      for (let i = 0; i < STAGED_ROWS_PER_PAGE; i++) {
        const next = generator.next();
        if (next.done) break;
        page.push(next.value);
      }
      yield { key, page };
    }
  }();
  await pool(Array.from({ length: 8 }), 8, async () => {
    for (const { key, page } of pages) await staging.putPart(key, page);
  });
  return collection;
}

async function sha256OfObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of res.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('base64');
}

async function reportSection(infra: Infra, opts: Options): Promise<ReportResult> {
  const rounds = opts.quick ? 1 : 5;
  const builds: BuildRun[] = [];
  for (let round = 0; round < rounds; round++) {
    // A different variant goes first each round, so a machine getting busier hurts none of them alone.
    const order = BUILD_VARIANTS.map((_, i) => BUILD_VARIANTS[(i + round) % BUILD_VARIANTS.length]!);
    for (const variant of order) {
      log(`report: round ${round + 1}/${rounds}, ${variant}, ${opts.rows.toLocaleString('en')} rows in a fresh process…`);
      builds.push(await runChild(infra, `report child ${variant}`, ['--expose-gc', join(repoRoot, 'bench', 'report-child.ts'), variant, String(opts.rows)]) as BuildRun);
    }
  }
  const shas = new Set(builds.filter((b) => b.variant !== 'lambda').map((b) => b.sha256));
  if (shas.size !== 1) throw new Error(`before and ours wrote different CSVs: SHA-256 ${[...shas].join(', ')}`);


  const aws = await infra.aws();
  const s3 = new S3Client(clientConfig(aws.motoEndpoint));
  infra.defer('bench S3 client', async () => s3.destroy());
  const writeReport: WriteReportRun[] = [];
  for (const rows of [opts.rows, opts.rows * 10]) {
    const leaseUuid = randomUUID();
    log(`writeReport: staging ${rows.toLocaleString('en')} rows in moto…`);
    const t0 = performance.now();
    const collection = await stageRows(s3, aws.bucket, leaseUuid, rows);
    const stagingSeconds = round((performance.now() - t0) / 1000, 1);
    const file = join(await infra.tmp(), `collection-${leaseUuid}.json`);
    writeFileSync(file, JSON.stringify(collection));
    log(`writeReport: ${rows.toLocaleString('en')} rows, ${collection.pages} staged pages -> CSV in S3, fresh process…`);
    const run = await runChild(infra, 'writeReport child', [join(repoRoot, 'bench', 'write-report-child.ts'), file], {
      BENCH_S3_ENDPOINT: aws.motoEndpoint, BENCH_BUCKET: aws.bucket, BENCH_LEASE_UUID: leaseUuid,
    }) as Omit<WriteReportRun, 'rows' | 'stagedPages' | 'stagingSeconds' | 'downloadedSha256Matches'> & { key: string };
    const downloaded = await sha256OfObject(s3, aws.bucket, run.key);
    writeReport.push({ ...run, rows, stagedPages: collection.pages, stagingSeconds, downloadedSha256Matches: downloaded === run.checksumSha256 });
  }
  return { rows: opts.rows, rounds, builds, writeReport };
}

function printReport(r: ReportResult) {
  const label: Record<BuildVariant, string> = {
    lambda: 'Lambda CSV step: concatenate pre-sorted rows, escape, guard',
    before: 'before: buildCostCsv at a0e3754 (decimal.js, csv-stringify) + SHA-256',
    ours: 'ours: CostReportBuilder (aggregate, sort, CSV bytes, SHA-256)',
  };
  const before = r.builds.filter((b) => b.variant === 'before');
  printTable(`3a. Report build: ${r.rows.toLocaleString('en')} rows, each variant in a fresh process, ${r.rounds} round(s)`, [
    'variant', 'wall ms (each round)', 'median ms', 'of which SHA-256 ms (median)', 'CPU ms (median)', 'peak RSS growth MiB (median)', 'of which input MiB', 'growth vs before',
  ], BUILD_VARIANTS.map((v): Cell[] => {
    const runs = r.builds.filter((b) => b.variant === v);
    const growth = median(runs.map(growthKiB));
    const sha = runs.some((b) => b.sha256Ms !== undefined) ? round(median(runs.map((b) => b.sha256Ms ?? 0)), 1) : 'none';
    return [label[v], runs.map((b) => Math.round(b.buildMs)).join(' / '), Math.round(median(runs.map((b) => b.buildMs))), sha,
      Math.round(median(runs.map((b) => b.cpuMs))), round(growth / 1024, 1), round(median(runs.map((b) => b.withInputKiB - b.idleKiB)) / 1024, 1),
      `${round((growth / median(before.map(growthKiB))) * 100, 0)}%`];
  }), [
    'Same rows in every process: 40 services (a quarter with hostile names), 30% hostile resource names, amounts with 1 to 10 decimals, some credits.',
    'Peak RSS growth = maxRSS at the end minus maxRSS when the process was idle (modules loaded, no rows yet); it includes the input rows',
    '(and, for the Lambda step, sorting them into its pre-sorted input, which is not timed). Its costs are numbers formatted as the Lambda did.',
    `before and ours wrote the same CSV: ${r.builds.find((b) => b.variant === 'ours')!.bytes} bytes, SHA-256 ${r.builds.find((b) => b.variant === 'ours')!.sha256}.`,
    'SHA-256 is part of our build and the target, though the Lambda step has none: the column shows how much of the wall time it is.',
  ]);
  printTable('3b. writeReport end to end (staged pages in S3 -> CSV in S3, checksum verified), fresh process', [
    'rows', 'staged pages', 'CSV MiB', 'wall s', 'peak RSS MiB', 'growth MiB', 'heartbeats', 'longest heartbeat gap ms', 'longest event-loop stall ms', 'S3 object SHA-256 = reported',
  ], r.writeReport.map((w): Cell[] => [
    w.rows, w.stagedPages, mib(w.bytes), round(w.wallMs / 1000, 2), round(w.peakKiB / 1024, 1), round(growthKiB(w) / 1024, 1),
    w.heartbeats, Math.round(w.maxHeartbeatGapMs), Math.round(w.maxEventLoopDelayMs), w.downloadedSha256Matches ? 'yes' : 'NO',
  ]), [
    `Rows staged ${STAGED_ROWS_PER_PAGE} per page as the collect activity stages them (every tenth row repeats a key, so rows are summed), in moto.`,
    'The activity runs in a MockActivityEnvironment, which records its heartbeats; the stall is the event loop\'s longest delay (monitorEventLoopDelay).',
    `Every child of this section runs with the worker's node flags (the Dockerfile's ENTRYPOINT): ${workerNodeFlags().join(' ') || 'none'}.`,
  ]);
}

// ---------------------------------------------------------------------------------------------
// Section 5: webhook vs raw start

interface LoadResult {
  requests: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

interface WebhookResult {
  concurrency: number;
  webhook: LoadResult;
  raw: LoadResult;
  /** Pooled: all webhook requests over all webhook time, and the same for raw. */
  overheadRatio: number;
  /** Each block pair: webhook and raw back to back, then the no-op route. */
  pairs: { webhookRps: number; rawRps: number; noopRps: number; ratio: number; floor: number }[];
  /** Median of the pairs' ratios: the verdict. */
  pairedRatio: number;
  /** The same requests to a route the webhook does not have (404): the HTTP hop alone, no start. */
  noop: LoadResult;
  /**
   * The ratio expected if the hop's CPU simply adds to the start's on saturated cores,
   * 1 / (1 + raw rps / no-op rps): median over the pairs.
   */
  cpuBoundRatio: number;
}

function leaseTerminatedEvent(i: number) {
  // The ISB's envelope, with a distinct id, lease and account each.
  return sampleLeaseTerminatedEvent({
    userEmail: `bench.webhook.${i}@example.gov.uk`, accountId: String(500_000_000_000 + i), time: new Date().toISOString(),
  });
}

// No such route: the webhook answers 404 after the same HTTP parsing, hooks and access log.
const NO_OP_PATH = '/bench/no-op';

function post(agent: http.Agent, port: number, apiKey: string, body: string, path = WEBHOOK_PATH): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent, host: '127.0.0.1', port, path, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-api-key': apiKey },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function webhookSection(infra: Infra, opts: Options): Promise<WebhookResult> {
  const { address } = await infra.temporal();
  const client = await infra.client();
  const taskQueue = `bench-webhook-${infra.id}`;
  const port = await freePort();
  const apiKey = randomBytes(24).toString('hex');
  const settings = { BILLING_PADDING_HOURS: 8, RERUN_WINDOW_DAYS: 30 };
  log('webhook: starting `lease-costs webhook` in its own process…');
  const child = spawnManaged(process.execPath, [join(repoRoot, 'bin', 'lease-costs.mjs'), 'webhook'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: taskQueue,
      WEBHOOK_PORT: String(port), WEBHOOK_HOST: '127.0.0.1', WEBHOOK_AUTH: 'api-key', WEBHOOK_API_KEY: apiKey,
      BILLING_PADDING_HOURS: String(settings.BILLING_PADDING_HOURS), RERUN_WINDOW_DAYS: String(settings.RERUN_WINDOW_DAYS),
      PAYLOAD_ENCRYPTION_KEYS: '',
      // All load comes from one address: keep the limiter's bookkeeping in the path, not its 429s.
      WEBHOOK_RATE_LIMIT_PER_MINUTE: '1000000',
    },
  });
  infra.defer('webhook process', () => child.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: WEBHOOK_CONCURRENCY });
  infra.defer('http agent', async () => agent.destroy());

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.hasExited()) throw new Error(`webhook exited during start:\n${child.outputTail()}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`webhook not healthy after 60 s:\n${child.outputTail()}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  let seq = 0;
  const viaWebhook = async (count: number): Promise<LoadResult & { raw: RawLoad }> => {
    const bodies = Array.from({ length: count }, () => JSON.stringify(leaseTerminatedEvent(seq++)));
    return load(bodies, async (body) => {
      const status = await post(agent, port, apiKey, body);
      if (status !== 202) throw new Error(`HTTP ${status}`);
    });
  };
  // A route the webhook does not have: the same HTTP parsing, hooks and access log, no start.
  const viaNoop = async (count: number): Promise<LoadResult & { raw: RawLoad }> => {
    const bodies = Array.from({ length: count }, () => JSON.stringify(leaseTerminatedEvent(seq++)));
    return load(bodies, async (body) => {
      const status = await post(agent, port, apiKey, body, NO_OP_PATH);
      if (status !== 404) throw new Error(`HTTP ${status}`);
    });
  };
  const viaClient = async (count: number): Promise<LoadResult & { raw: RawLoad }> => {
    const inputs = Array.from({ length: count }, () => inputFromEvent(leaseTerminatedEvent(seq++), settings));
    return load(inputs, async (input: LeaseCostsInput) => {
      // The same start the webhook makes (startLeaseCosts), straight from the client.
      await client.workflow.start(WORKFLOW_TYPE, {
        ...leaseStartOptions(input), taskQueue, workflowIdReusePolicy: 'REJECT_DUPLICATE', workflowIdConflictPolicy: 'FAIL',
      });
    });
  };

  log('webhook: warm-up…');
  await viaWebhook(WEBHOOK_CONCURRENCY * 2);
  await viaClient(WEBHOOK_CONCURRENCY * 2);
  // Paired blocks, alternating which side goes first (AB BA AB…), each with a no-op block beside
  // it. The machine is shared: another session's burst of load lasts seconds, so a pooled ratio
  // swings by ±0.1 from run to run (0.79 to 1.13 measured), while the two sides of one pair see
  // the same machine. The verdict is the median of the pairs' ratios; the pooled one is printed too.
  const blocks = Array.from({ length: WEBHOOK_BLOCKS }, (_, i) =>
    Math.floor((opts.requests * (i + 1)) / WEBHOOK_BLOCKS) - Math.floor((opts.requests * i) / WEBHOOK_BLOCKS));
  log(`webhook: ${opts.requests} requests each way at concurrency ${WEBHOOK_CONCURRENCY}, in ${WEBHOOK_BLOCKS} paired blocks, each beside a no-op block…`);
  const webhookRuns: (LoadResult & { raw: RawLoad })[] = [];
  const rawRuns: (LoadResult & { raw: RawLoad })[] = [];
  const noopRuns: (LoadResult & { raw: RawLoad })[] = [];
  for (const [i, n] of blocks.entries()) {
    if (i % 2 === 0) {
      webhookRuns.push(await viaWebhook(n));
      rawRuns.push(await viaClient(n));
    } else {
      rawRuns.push(await viaClient(n));
      webhookRuns.push(await viaWebhook(n));
    }
    noopRuns.push(await viaNoop(n));
  }
  const pairs = blocks.map((_, i) => {
    const [w, r, z] = [webhookRuns[i]!.rps, rawRuns[i]!.rps, noopRuns[i]!.rps];
    return { webhookRps: w, rawRps: r, noopRps: z, ratio: round(w / r, 3), floor: round(1 / (1 + r / z), 3) };
  });
  const webhook = mergeAll(webhookRuns);
  const raw = mergeAll(rawRuns);
  const noop = mergeAll(noopRuns);
  return {
    concurrency: WEBHOOK_CONCURRENCY, webhook, raw, overheadRatio: round(webhook.rps / raw.rps, 3),
    pairs, pairedRatio: round(median(pairs.map((p) => p.ratio)), 3),
    noop, cpuBoundRatio: round(median(pairs.map((p) => p.floor)), 3),
  };
}

interface RawLoad { latencies: number[]; errors: string[]; ms: number }

async function load<T>(items: T[], fn: (item: T) => Promise<void>): Promise<LoadResult & { raw: RawLoad }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  await pool(items, WEBHOOK_CONCURRENCY, async (item) => {
    const t = performance.now();
    try {
      await fn(item);
      latencies.push(performance.now() - t);
    } catch (err) {
      errors.push((err as Error).message);
    }
  });
  const ms = performance.now() - t0;
  return { ...summarise({ latencies, errors, ms }), raw: { latencies, errors, ms } };
}

function summarise({ latencies, errors, ms }: RawLoad): LoadResult {
  const requests = latencies.length + errors.length;
  return {
    requests, errors: errors.length, errorSamples: [...new Set(errors)].slice(0, 3), seconds: round(ms / 1000, 2),
    rps: round(requests / (ms / 1000), 1), p50Ms: round(percentile(latencies, 50), 1), p99Ms: round(percentile(latencies, 99), 1),
  };
}

function mergeAll(runs: (LoadResult & { raw: RawLoad })[]): LoadResult {
  return summarise({
    latencies: runs.flatMap((r) => r.raw.latencies), errors: runs.flatMap((r) => r.raw.errors), ms: runs.reduce((sum, r) => sum + r.raw.ms, 0),
  });
}

function printWebhook(r: WebhookResult) {
  printTable(`5. Webhook vs raw client.workflow.start, concurrency ${r.concurrency}`, [
    'path', 'requests', 'errors', 'seconds', 'requests/s', 'p50 ms', 'p99 ms',
  ], [
    ['POST /webhooks/lease-terminated (own process)', r.webhook.requests, r.webhook.errors, r.webhook.seconds, r.webhook.rps, r.webhook.p50Ms, r.webhook.p99Ms],
    ['client.workflow.start (bench process)', r.raw.requests, r.raw.errors, r.raw.seconds, r.raw.rps, r.raw.p50Ms, r.raw.p99Ms],
    [`POST ${NO_OP_PATH}: 404, the HTTP hop alone`, r.noop.requests, r.noop.errors, r.noop.seconds, r.noop.rps, r.noop.p50Ms, r.noop.p99Ms],
  ], [
    `overhead ratio = webhook rps / raw rps: median of ${r.pairs.length} paired blocks ${r.pairedRatio} (range ${Math.min(...r.pairs.map((p) => p.ratio))}–${Math.max(...r.pairs.map((p) => p.ratio))}); pooled ${r.overheadRatio}`,
    `no-op floor: if the hop's CPU simply adds to the start's on saturated cores, the ratio is 1 / (1 + raw rps / no-op rps) = ${r.cpuBoundRatio} (median of the pairs);`,
    '  a ratio below that lost time to scheduling three busy processes (dev server, bench, webhook) on the cores, not to the webhook\'s work.',
    'Distinct valid LeaseTerminated events (x-api-key auth); the workflows started sit on a task queue with no worker. After a warm-up, blocks alternate',
    'which side goes first (AB BA AB…), each pair followed by a no-op block; a burst of outside load then hits both sides of a pair alike.',
    ...[...r.webhook.errorSamples, ...r.raw.errorSamples, ...r.noop.errorSamples].map((e) => `error sample: ${e}`),
  ]);
  printTable('5b. Webhook blocks, in order', ['block', 'webhook req/s', 'raw req/s', 'no-op req/s', 'ratio', 'no-op floor'],
    r.pairs.map((p, i): Cell[] => [i + 1, p.webhookRps, p.rawRps, p.noopRps, p.ratio, p.floor]));
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Target { target: string; measured: string; verdict: 'PASS' | 'FAIL' | 'SKIP' }

function targets(r: { burst?: BurstResult; datasets?: DatasetRun[]; pinnedCalls?: PinnedRun[]; report?: ReportResult; webhook?: WebhookResult }, opts: Options): Target[] {
  const out: Target[] = [];
  const verdict = (ok: boolean): Target['verdict'] => (ok ? 'PASS' : 'FAIL');
  const skip = (target: string) => out.push({ target, measured: 'not run', verdict: 'SKIP' });

  const t1 = `Burst: achieved rate ≥ ${TARGET_RATE_SHARE * 100}% of cap, 0 throttled, 0 failed`;
  if (r.burst) {
    const b = r.burst;
    out.push({
      target: t1,
      measured: `${round(b.achievedShareOfCap * 100, 1)}% of ${CAP_RPS}/s, ${b.throttledCalls} throttled, ${b.failed} failed${b.unfinished ? `, ${b.unfinished} unfinished` : ''} (${b.leases} leases)`,
      verdict: verdict(b.achievedShareOfCap >= TARGET_RATE_SHARE && b.throttledCalls === 0 && b.failed === 0 && b.unfinished === 0),
    });
  } else skip(t1);

  const byName = (name: string) => r.datasets?.find((d) => d.dataset.name.startsWith(name));
  for (const name of ['small', 'large']) {
    const t = `CE calls per lease ≤ Lambda design (${name} dataset)${name === 'large' ? `; aim ${TARGET_RATIO_AIM}x` : ''}`;
    const d = byName(name);
    if (d && opts.only.has('calls')) {
      out.push({ target: t, measured: `${d.ours.calls} vs ${d.lambda.callsFromLog} (${d.ratio}x)`, verdict: verdict(d.ours.calls <= d.lambda.callsFromLog) });
    } else skip(t);
    const tc = `CE calls per lease ≤ ${TARGET_CALLS[name]} (${name} dataset), regions on every row, daily series exact`;
    if (d && opts.only.has('calls')) {
      out.push({
        target: tc,
        measured: `${d.ours.calls} (floor ${d.floor.floor}; ${d.floor.floorMonthly} as MONTHLY returns them${d.resourceDaysCrossMonth ? ', resource days span two months' : ''})`,
        verdict: verdict(d.ours.calls <= TARGET_CALLS[name]!),
      });
    } else skip(tc);
    for (const p of (r.pinnedCalls ?? []).filter((x) => x.dataset.name.startsWith(name))) {
      out.push({
        target: `${tc}, today pinned to ${p.today}${p.crossMonth ? ' (resource days span two months)' : ''}`,
        measured: `${p.calls} (floor ${p.floor.floor}; ${p.floor.floorMonthly} as MONTHLY returns them), total exact: ${p.exact ? 'yes' : 'NO'}`,
        verdict: verdict(p.calls <= TARGET_CALLS[name]! && p.exact),
      });
    }
  }
  for (const name of ['small', 'large']) {
    const t = `History ≤ ${TARGET_HISTORY_EVENTS} events and ≤ ${TARGET_HISTORY_BYTES / 1024} KiB per lease (${name})`;
    const d = byName(name);
    if (d && opts.only.has('history')) {
      out.push({
        target: t, measured: `${d.history.events} events, ${kib(d.history.bytes)} KiB`,
        verdict: verdict(d.history.events <= TARGET_HISTORY_EVENTS && d.history.bytes <= TARGET_HISTORY_BYTES),
      });
    } else skip(t);
  }

  const t3 = `${opts.rows.toLocaleString('en')}-row build: ours no slower than the Lambda CSV step (median wall), peak RSS growth ≤ half of before's`;
  if (r.report) {
    const med = (v: BuildVariant, f: (b: BuildRun) => number) => median(r.report!.builds.filter((b) => b.variant === v).map(f));
    const [lambdaMs, oursMs] = [med('lambda', (b) => b.buildMs), med('ours', (b) => b.buildMs)];
    const [beforeGrowth, oursGrowth] = [med('before', growthKiB), med('ours', growthKiB)];
    out.push({
      target: t3,
      measured: `${Math.round(oursMs)} (SHA-256 ${round(med('ours', (b) => b.sha256Ms ?? 0), 1)}) vs ${Math.round(lambdaMs)} ms; growth ${round(oursGrowth / 1024, 1)} vs ${round(beforeGrowth / 1024, 1)} MiB (${round((oursGrowth / beforeGrowth) * 100, 0)}%)`,
      verdict: verdict(oursMs <= lambdaMs && oursGrowth * 2 <= beforeGrowth),
    });
  } else skip(t3);
  const largest = r.report?.writeReport.at(-1);
  const t3b = `writeReport at ${(opts.rows * 10).toLocaleString('en')} rows: peak RSS < ${TARGET_WRITE_REPORT_RSS_BYTES / 1024 / 1024} MiB, checksum verified, no heartbeat gap or event-loop stall ≥ ${TARGET_MAX_STALL_MS} ms`;
  if (largest) {
    out.push({
      target: t3b,
      measured: `${round(largest.peakKiB / 1024, 1)} MiB, ${round(largest.wallMs / 1000, 1)} s, SHA-256 ${largest.downloadedSha256Matches ? 'matches' : 'DIFFERS'}, gap ${Math.round(largest.maxHeartbeatGapMs)} ms, stall ${Math.round(largest.maxEventLoopDelayMs)} ms`,
      verdict: verdict(largest.peakKiB * 1024 < TARGET_WRITE_REPORT_RSS_BYTES && largest.downloadedSha256Matches &&
        largest.maxHeartbeatGapMs < TARGET_MAX_STALL_MS && largest.maxEventLoopDelayMs < TARGET_MAX_STALL_MS),
    });
  } else skip(t3b);

  const t5 = `Webhook overhead ratio ≥ ${TARGET_WEBHOOK_RATIO} (median of paired blocks), 0 errors`;
  if (r.webhook) {
    const w = r.webhook;
    out.push({
      target: t5,
      measured: `${w.pairedRatio}, median of ${w.pairs.length} paired blocks (pooled ${w.overheadRatio}: ${w.webhook.rps} vs ${w.raw.rps} req/s); no-op route ${w.noop.rps} req/s, floor ${w.cpuBoundRatio}`,
      verdict: verdict(w.pairedRatio >= TARGET_WEBHOOK_RATIO && w.webhook.errors === 0 && w.raw.errors === 0),
    });
  } else skip(t5);
  return out;
}

// ---------------------------------------------------------------------------------------------

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function writeResults(run: Record<string, unknown>, startedAt: Date): string {
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().slice(0, 10)}.json`);
  let doc: { runs: unknown[] } = { runs: [] };
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { runs?: unknown[] };
      if (Array.isArray(parsed.runs)) doc = { runs: parsed.runs };
    } catch {
      log(`${file} did not parse: starting it afresh`);
    }
  }
  doc.runs.push(run);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  // The SDK's Node 20 deprecation notice says nothing about this run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const startedAt = new Date();
  const machine = machineInfo();
  printTable('Machine', ['', ''], [
    ['os', machine.os], ['cpu', `${machine.cpuCount} x ${machine.cpuModel}`], ['memory (GiB)', round(machine.totalMemoryBytes / 1024 ** 3, 1)],
    ['node', machine.node], ['commit', `${machine.commit}${machine.uncommittedFiles ? ` + ${machine.uncommittedFiles} uncommitted files` : ''}`],
    ['load average at start', machine.loadAverageAtStart.join(' ')],
    ['sections', [...opts.only].join(', ') + (opts.quick ? ' (quick sizes)' : '')],
  ]);

  const infra = new Infra();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping everything the bench started…`);
    void infra.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: { burst?: BurstResult; datasets?: DatasetRun[]; pinnedCalls?: PinnedRun[]; report?: ReportResult; webhook?: WebhookResult } = {};
  const errors: Record<string, string> = {};
  const attempt = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors[name] = (err as Error).stack ?? String(err);
      log(`${name} failed: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  };
  try {
    if (opts.only.has('report')) await attempt('report', async () => printReport((results.report = await reportSection(infra, opts))));
    if (opts.only.has('calls') || opts.only.has('history')) {
      await attempt('calls/history', async () => {
        results.datasets = await datasetSection(infra, opts);
        if (opts.only.has('calls')) {
          printCalls(results.datasets);
          printPinnedCalls((results.pinnedCalls = await pinnedCallsSection(opts)));
        }
        if (opts.only.has('history')) printHistory(results.datasets);
      });
    }
    if (opts.only.has('burst')) await attempt('burst', async () => printBurst((results.burst = await burstSection(infra, opts)), opts));
    if (opts.only.has('webhook')) await attempt('webhook', async () => printWebhook((results.webhook = await webhookSection(infra, opts))));
  } finally {
    log('stopping everything the bench started…');
    await infra.close();
  }

  const verdicts = targets(results, opts);
  printTable(`Targets${opts.quick ? ' (quick sizes: smoke run, not the reference sizes)' : ''}`, ['target', 'measured', 'result'],
    verdicts.map((t) => [t.target, t.measured, t.verdict]),
    Object.keys(errors).map((name) => `section ${name} failed: ${errors[name]!.split('\n')[0]}`));

  const file = writeResults({
    startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(),
    args: process.argv.slice(2), quick: opts.quick, sections: [...opts.only],
    sizes: { leases: opts.leases, requests: opts.requests, rows: opts.rows, small: SMALL, large: opts.large },
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => round(l)) },
    results, targets: verdicts, errors,
  }, startedAt);
  console.log(`\nresults appended to ${file}`);
}

await main();
