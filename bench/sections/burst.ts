// Section 1: a burst of leases terminated at once, through two worker processes and the pacer,
// against a Cost Explorer fake that throttles above its rate.
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { LISTED_RUN_PRIORITY, LIVE_RUN_PRIORITY } from '../../src/domain/priority';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { mostWithinOneSecond, startFakeCostExplorer, type FakeCeCall } from '../../support/fakes/cost-explorer';
import { startFakeIsbApi } from '../../support/fakes/isb-api';
import { accountOf, makeLease, SMALL, type BenchLease } from '../datasets';
import { log, percentile, pool, printTable, round } from '../format';
import type { Infra } from '../infra';
import type { Options } from '../options';
import { CAP_RPS, FAKE_THROTTLE_RPS } from '../thresholds';

export interface BurstResult {
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
  /** Per lease, seconds from its start (the webhook's POST) to its report published; undefined when none was. */
  latency?: BurstLatency;
  duringBackfill: LiveDuringBackfill;
}

export interface LiveDuringBackfill {
  backfillLeases: number;
  /** Seconds from the backfill's first start to the live lease's start (its calls have begun by then). */
  liveStartAfterBackfill: number;
  /** The live lease: start to published (s). */
  liveSeconds: number;
  /** The backfill: first start to last report (s). */
  backfillSeconds: number;
  /** Backfilled leases whose report went out after the live lease's. */
  backfillAfterLive: number;
}

export interface BurstLatency {
  first: number;
  p50: number;
  p90: number;
  last: number;
  /** First start to last report published (s). */
  spanSeconds: number;
  /** The first report published: seconds from its lease's first Cost Explorer call to publishing. */
  firstFromItsFirstCall: number;
  /** The first start to the burst's first Cost Explorer call (s): the runs' steps before collection. */
  firstCall: number;
  published: number;
}

/** A bench lease's run as the webhook (live) or backfill (listed) starts it: no settle delay, no re-run window. */
function startBenchLease(
  client: Parameters<typeof startLeaseCosts>[0],
  taskQueue: string,
  lease: BenchLease,
  priorityKey: number,
) {
  return startLeaseCosts(
    client,
    taskQueue,
    {
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      terminatedAt: lease.terminatedAt,
      paddingHours: 0,
      rerunWindowHours: 0,
    },
    priorityKey,
  );
}

/** Events per second between the first and the last event: (n − 1) / span. */
function rateOf(times: number[]): { rate: number; spanSeconds: number } {
  if (times.length < 2) return { rate: Number.NaN, spanSeconds: 0 };
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return { rate: span > 0 ? (times.length - 1) / span : Number.NaN, spanSeconds: span };
}

export async function burstSection(infra: Infra, opts: Options): Promise<BurstResult> {
  const n = opts.leases;
  const aws = await infra.aws();
  const ce = await startFakeCostExplorer({ throttle: { maxRps: FAKE_THROTTLE_RPS } });
  infra.defer('Cost Explorer fake (burst)', () => ce.close());
  const isb = await startFakeIsbApi({ jwtSecret: aws.jwtSecret });
  infra.defer('ISB API fake (burst)', () => isb.close());
  const client = await infra.client();
  const taskQueue = `bench-burst-${infra.id}`;
  const env = await infra.workerEnv({
    ceEndpoint: ce.endpoint,
    isbEndpoint: isb.endpoint,
    taskQueue,
    maxRps: CAP_RPS,
    paddingHours: 0,
  });

  log(`burst: loading ${n} leases (small dataset each) into the fakes…`);
  const now = Date.now();
  // The burst's leases, then a backfill's and one live lease that arrives during it.
  const backfillCount = Math.max(8, Math.floor(n / 4));
  const all: BenchLease[] = Array.from({ length: n + backfillCount + 1 }, (_, i) =>
    makeLease(SMALL, {
      accountId: `3${String(i).padStart(11, '0')}`,
      seed: i + 1,
      now,
      userEmail: `burst.${i}@example.gov.uk`,
    }),
  );
  const leases = all.slice(0, n);
  for (const lease of all) {
    ce.addCosts(lease.items);
    isb.addLease({
      uuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      startDate: lease.startDate,
      endDate: lease.terminatedAt,
      status: 'Expired',
    });
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
  let burstCalls: FakeCeCall[];
  let burstStats: ReturnType<typeof ce.stats>;
  let duringBackfill: LiveDuringBackfill;
  const startedAt = new Map<string, number>();
  try {
    ce.resetCalls();
    ce.setThrottle({ maxRps: FAKE_THROTTLE_RPS });
    log(`burst: ${n} LeaseTerminated at once (padding 0)…`);
    const t0 = performance.now();
    await pool(leases, 32, (lease) => {
      startedAt.set(lease.uuid, Date.now());
      return startBenchLease(client, taskQueue, lease, LIVE_RUN_PRIORITY);
    });
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
      const outcome = client.connection
        .withAbortSignal(abort.signal, () => client.workflow.getHandle(workflowIdFor(lease.uuid)).result())
        .then(
          () => 'ok' as const,
          (err: Error & { cause?: Error & { type?: string } }) => err.cause?.type ?? err.cause?.name ?? err.name,
        );
      const r = await Promise.race([outcome, deadline]);
      if (r === 'ok') completed++;
      else if (r === 'timeout') unfinished++;
      else {
        failed++;
        failureTypes[r] = (failureTypes[r] ?? 0) + 1;
      }
      if (++done % Math.max(1, Math.floor(n / 10)) === 0)
        log(`burst: ${done}/${n} settled, ${ce.stats().throttled} throttled calls so far`);
    });
    timedOut();
    wallMs = performance.now() - t0;
    burstCalls = [...ce.calls];
    burstStats = ce.stats();
    duringBackfill = await liveDuringBackfill(client, taskQueue, all.slice(n, -1), all.at(-1)!, ce);
  } finally {
    await workers.stop();
  }

  const latency = await latencyOf(client, leases, startedAt, burstCalls);
  const stats = burstStats;
  const ok = burstCalls.filter((c) => c.status === 200);
  const accepted = rateOf(ok.map((c) => c.at));
  const attempted = rateOf(burstCalls.map((c) => c.at));
  const firstAt = Math.min(...burstCalls.map((c) => c.at));
  return {
    leases: n,
    workers: 2,
    maxRpsPerProcess: CAP_RPS,
    fakeThrottleAboveRps: FAKE_THROTTLE_RPS,
    wallSeconds: round(wallMs / 1000, 1),
    startAllSeconds: round(startAllMs / 1000, 1),
    completed,
    failed,
    unfinished,
    failureTypes,
    calls: stats.total,
    okCalls: stats.ok,
    throttledCalls: stats.throttled,
    otherErrorCalls: stats.failed,
    throttledInFirst5s: burstCalls.filter((c) => c.errorCode === 'LimitExceededException' && c.at - firstAt < 5000)
      .length,
    peakCallsPerSecond: mostWithinOneSecond(burstCalls.map((c) => c.at)),
    callsPerLease: round(stats.total / n, 2),
    collectionSeconds: round(attempted.spanSeconds, 1),
    acceptedRatePerSecond: round(accepted.rate, 2),
    attemptedRatePerSecond: round(attempted.rate, 2),
    achievedShareOfCap: round(accepted.rate / CAP_RPS, 3),
    latency,
    duringBackfill,
  };
}

/**
 * A backfill (runs started as from the lease list) and, once its collection is under way, one live
 * lease: how long the live lease takes, and how much of the backfill was still waiting when its
 * report went out. Without priority it would wait behind every backfilled lease.
 */
async function liveDuringBackfill(
  client: Awaited<ReturnType<Infra['client']>>,
  taskQueue: string,
  backfill: BenchLease[],
  live: BenchLease,
  ce: { resetCalls(): void; calls: FakeCeCall[] },
): Promise<LiveDuringBackfill> {
  ce.resetCalls();
  const start = (lease: BenchLease, priorityKey: number) => startBenchLease(client, taskQueue, lease, priorityKey);
  log(`burst: a backfill of ${backfill.length} leases, then one live lease once its calls have begun…`);
  const t0 = Date.now();
  await pool(backfill, 32, (l) => start(l, LISTED_RUN_PRIORITY));
  for (const until = Date.now() + 120_000; ce.calls.length < 4 && Date.now() < until;) await sleep(100);
  const liveStart = Date.now();
  await start(live, LIVE_RUN_PRIORITY);
  const closeOf = async (l: BenchLease) => {
    await client.workflow.getHandle(workflowIdFor(l.uuid)).result();
    return (await publishedAt(client, l)) ?? Number.NaN;
  };
  const liveClosed = await closeOf(live);
  const backfillClosed = await pool(backfill, 32, closeOf);
  return {
    backfillLeases: backfill.length,
    liveStartAfterBackfill: round((liveStart - t0) / 1000, 1),
    liveSeconds: round((liveClosed - liveStart) / 1000, 1),
    backfillSeconds: round((Math.max(...backfillClosed) - t0) / 1000, 1),
    backfillAfterLive: backfillClosed.filter((at) => at > liveClosed).length,
  };
}

/** When the lease's publishReport activity completed (epoch ms), from its run's history. */
async function publishedAt(client: Awaited<ReturnType<Infra['client']>>, lease: BenchLease) {
  const history = await client.workflow.getHandle(workflowIdFor(lease.uuid)).fetchHistory();
  const scheduled = history.events?.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'publishReport',
  );
  const completed = history.events?.find(
    (e) => scheduled && String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(scheduled.eventId),
  );
  const t = completed?.eventTime;
  return t ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;
}

/**
 * Each lease's time from its start to its report published: the completion of its publishReport
 * activity in the run's history (the run itself closes up to a second later, when the zero-hour
 * re-run window's timer fires). The same machine's clock stamps starts, history events and the
 * fake's call log.
 */
async function latencyOf(
  client: Awaited<ReturnType<Infra['client']>>,
  leases: BenchLease[],
  startedAt: Map<string, number>,
  calls: FakeCeCall[],
): Promise<BurstLatency | undefined> {
  const closed: { lease: BenchLease; at: number; seconds: number }[] = [];
  await pool(leases, 16, async (lease) => {
    const start = startedAt.get(lease.uuid);
    const at = await publishedAt(client, lease);
    if (at === undefined || start === undefined) return;
    closed.push({ lease, at, seconds: (at - start) / 1000 });
  });
  if (closed.length === 0) return undefined;
  const seconds = closed.map((c) => c.seconds);
  const first = closed.reduce((a, b) => (b.at < a.at ? b : a));
  const itsCalls = calls.filter((c) => accountOf(c) === first.lease.accountId).map((c) => c.at);
  return {
    first: round(Math.min(...seconds), 1),
    p50: round(percentile(seconds, 50), 1),
    p90: round(percentile(seconds, 90), 1),
    last: round(Math.max(...seconds), 1),
    spanSeconds: round((Math.max(...closed.map((c) => c.at)) - Math.min(...startedAt.values())) / 1000, 1),
    firstFromItsFirstCall: round((first.at - Math.min(...itsCalls)) / 1000, 1),
    firstCall: round((Math.min(...calls.map((c) => c.at)) - Math.min(...startedAt.values())) / 1000, 1),
    published: closed.length,
  };
}

export function printBurst(r: BurstResult, opts: Options) {
  printTable(
    `1. Burst: ${r.leases} leases terminated at once, ${r.workers} worker processes${opts.quick ? ' (quick)' : ''}`,
    ['measure', 'value'],
    [
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
      ...latencyRows(r.latency),
      [
        `live lease during a backfill of ${r.duringBackfill.backfillLeases}: start → published (s)`,
        `${r.duringBackfill.liveSeconds} (started ${r.duringBackfill.liveStartAfterBackfill} s into the backfill)`,
      ],
      ['  backfill: first start to last report (s)', r.duringBackfill.backfillSeconds],
      [
        '  backfilled reports published after the live one',
        `${r.duringBackfill.backfillAfterLive} of ${r.duringBackfill.backfillLeases}`,
      ],
    ],
    [
      `COST_EXPLORER_MAX_RPS=${r.maxRpsPerProcess}, given to both workers: the spacing of the pacer workflow's call slots, the one limiter (default task-queue partitions; the dev server has matching.useNewMatcher=true, for priority only). The fake throttles calls beyond ${r.fakeThrottleAboveRps} accepted in the trailing second.`,
      "Rates are (calls − 1) / (last call − first call), from the fake's call log.",
      "Latency: per lease, its start (the webhook's POST) to its publishReport activity's completion; the span is the first start to the last report. Pages after a lease's first outrank first pages on the Cost Explorer task queue (docs/operations.md, Priority).",
      ...(Object.keys(r.failureTypes).length ? [`Failure types: ${JSON.stringify(r.failureTypes)}`] : []),
    ],
  );
}

function latencyRows(l: BurstLatency | undefined): [string, string | number][] {
  if (!l) return [['start → published (s)', 'no report published']];
  return [
    [
      `start → published, ${l.published} reports (s): first / p50 / p90 / last`,
      `${l.first} / ${l.p50} / ${l.p90} / ${l.last}`,
    ],
    ['burst span, first start to last report (s)', l.spanSeconds],
    ['  of which first start to first Cost Explorer call (s)', l.firstCall],
    ['  p50 / span', round(l.p50 / l.spanSeconds, 2)],
    ["first report, from its lease's first call (s)", l.firstFromItsFirstCall],
  ];
}
