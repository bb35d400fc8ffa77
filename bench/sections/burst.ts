// Section 1: a burst of leases terminated at once, through two worker processes and the pacer,
// against a Cost Explorer fake that throttles above its rate.
import { setMaxListeners } from 'node:events';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { mostWithinOneSecond, startFakeCostExplorer } from '../../support/fakes/cost-explorer';
import { startFakeIsbApi } from '../../support/fakes/isb-api';
import { makeLease, SMALL, type BenchLease } from '../datasets';
import { log, pool, printTable, round } from '../format';
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
  const leases: BenchLease[] = Array.from({ length: n }, (_, i) =>
    makeLease(SMALL, {
      accountId: `3${String(i).padStart(11, '0')}`,
      seed: i + 1,
      now,
      userEmail: `burst.${i}@example.gov.uk`,
    }),
  );
  for (const lease of leases) {
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
  try {
    ce.resetCalls();
    ce.setThrottle({ maxRps: FAKE_THROTTLE_RPS });
    log(`burst: ${n} LeaseTerminated at once (padding 0)…`);
    const t0 = performance.now();
    await pool(leases, 32, (lease) =>
      startLeaseCosts(client, taskQueue, {
        leaseUuid: lease.uuid,
        userEmail: lease.userEmail,
        accountId: lease.accountId,
        terminatedAt: lease.terminatedAt,
        paddingHours: 0,
        rerunWindowHours: 0,
      }),
    );
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
  } finally {
    await workers.stop();
  }

  const stats = ce.stats();
  const ok = ce.calls.filter((c) => c.status === 200);
  const accepted = rateOf(ok.map((c) => c.at));
  const attempted = rateOf(ce.calls.map((c) => c.at));
  const firstAt = Math.min(...ce.calls.map((c) => c.at));
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
    throttledInFirst5s: ce.calls.filter((c) => c.errorCode === 'LimitExceededException' && c.at - firstAt < 5000)
      .length,
    peakCallsPerSecond: mostWithinOneSecond(ce.calls.map((c) => c.at)),
    callsPerLease: round(stats.total / n, 2),
    collectionSeconds: round(attempted.spanSeconds, 1),
    acceptedRatePerSecond: round(accepted.rate, 2),
    attemptedRatePerSecond: round(attempted.rate, 2),
    achievedShareOfCap: round(accepted.rate / CAP_RPS, 3),
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
    ],
    [
      `COST_EXPLORER_MAX_RPS=${r.maxRpsPerProcess}, given to both workers: the spacing of the pacer workflow's call slots, the one limiter (default task-queue partitions, no server dynamic config). The fake throttles calls beyond ${r.fakeThrottleAboveRps} accepted in the trailing second.`,
      "Rates are (calls − 1) / (last call − first call), from the fake's call log.",
      ...(Object.keys(r.failureTypes).length ? [`Failure types: ${JSON.stringify(r.failureTypes)}`] : []),
    ],
  );
}
