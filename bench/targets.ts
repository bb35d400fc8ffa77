// The Targets table: each section's results judged against the thresholds.
import { resourceDaysNote } from './datasets';
import { kib, median, printTable, round } from './format';
import type { Options } from './options';
import type { BurstResult } from './sections/burst';
import type { DatasetRun } from './sections/calls';
import type { PinnedRun } from './sections/pinned-calls';
import { growthKiB, type BuildRun, type BuildVariant, type ReportResult } from './sections/report';
import type { WebhookResult } from './sections/webhook';
import {
  CAP_RPS,
  TARGET_BACKFILL_AFTER_LIVE_SHARE,
  TARGET_CALLS,
  TARGET_COLLECTION_OVER_FLOOR,
  TARGET_FIRST_REPORT_SECONDS,
  TARGET_HISTORY_BYTES,
  TARGET_HISTORY_EVENTS,
  TARGET_MAX_STALL_MS,
  TARGET_P50_SHARE_OF_SPAN,
  TARGET_RATE_SHARE,
  TARGET_RATIO_AIM,
  TARGET_WEBHOOK_RATIO,
  TARGET_WRITE_REPORT_RSS_BYTES,
} from './thresholds';

/** What the sections that ran measured; a section not run leaves its entry out. */
export interface SectionResults {
  burst?: BurstResult;
  datasets?: DatasetRun[];
  pinnedCalls?: PinnedRun[];
  report?: ReportResult;
  webhook?: WebhookResult;
}

export interface Target {
  target: string;
  measured: string;
  verdict: 'PASS' | 'FAIL' | 'SKIP';
}

export function targets(r: SectionResults, opts: Options): Target[] {
  const out: Target[] = [];
  const verdict = (ok: boolean): Target['verdict'] => (ok ? 'PASS' : 'FAIL');
  const skip = (target: string) => out.push({ target, measured: 'not run', verdict: 'SKIP' });

  const t1 = `Burst: achieved rate ≥ ${TARGET_RATE_SHARE * 100}% of cap, 0 throttled, 0 failed`;
  if (r.burst) {
    const b = r.burst;
    out.push({
      target: t1,
      measured: `${round(b.achievedShareOfCap * 100, 1)}% of ${CAP_RPS}/s, ${b.throttledCalls} throttled, ${b.failed} failed${b.unfinished ? `, ${b.unfinished} unfinished` : ''} (${b.leases} leases)`,
      verdict: verdict(
        b.achievedShareOfCap >= TARGET_RATE_SHARE && b.throttledCalls === 0 && b.failed === 0 && b.unfinished === 0,
      ),
    });
  } else skip(t1);
  const t1b = `Burst: first report ≤ ${TARGET_FIRST_REPORT_SECONDS} s from its first call, p50 start → published ≤ ${TARGET_P50_SHARE_OF_SPAN} × span`;
  const l = r.burst?.latency;
  if (r.burst) {
    out.push({
      target: t1b,
      measured: l
        ? `first ${l.firstFromItsFirstCall} s from its first call; p50 ${l.p50} s of ${l.spanSeconds} s (${round(l.p50 / l.spanSeconds, 2)}); first / p90 / last ${l.first} / ${l.p90} / ${l.last} s`
        : 'no report published',
      verdict: verdict(
        !!l &&
          l.firstFromItsFirstCall <= TARGET_FIRST_REPORT_SECONDS &&
          l.p50 <= TARGET_P50_SHARE_OF_SPAN * l.spanSeconds,
      ),
    });
  } else skip(t1b);
  const t1c = `Burst: a live lease arriving during a backfill is published before ≥ ${TARGET_BACKFILL_AFTER_LIVE_SHARE * 100}% of the backfill`;
  if (r.burst) {
    const d = r.burst.duringBackfill;
    out.push({
      target: t1c,
      measured: `live ${d.liveSeconds} s, started ${d.liveStartAfterBackfill} s into a ${d.backfillSeconds} s backfill; ${d.backfillAfterLive} of ${d.backfillLeases} backfilled published after it`,
      verdict: verdict(d.backfillAfterLive >= TARGET_BACKFILL_AFTER_LIVE_SHARE * d.backfillLeases),
    });
  } else skip(t1c);

  const byName = (name: string) => r.datasets?.find((d) => d.dataset.name.startsWith(name));
  for (const name of ['small', 'large']) {
    const t = `CE calls per lease ≤ Lambda design (${name} dataset)${name === 'large' ? `; aim ${TARGET_RATIO_AIM}x` : ''}`;
    const d = byName(name);
    if (d && opts.only.has('calls')) {
      out.push({
        target: t,
        measured: `${d.ours.calls} vs ${d.lambda.callsFromLog} (${d.ratio}x)`,
        verdict: verdict(d.ours.calls <= d.lambda.callsFromLog),
      });
    } else skip(t);
    const tc = `CE calls per lease ≤ ${TARGET_CALLS[name]} (${name} dataset), regions on every row, daily series exact`;
    if (d && opts.only.has('calls')) {
      out.push({
        target: tc,
        measured: `${d.ours.calls} (floor ${d.floor.floor}; ${d.floor.floorMonthly} as MONTHLY returns them${resourceDaysNote(d.resourceDaysCrossMonth, d.resourceDays)})`,
        verdict: verdict(d.ours.calls <= TARGET_CALLS[name]!),
      });
    } else skip(tc);
    for (const p of (r.pinnedCalls ?? []).filter((x) => x.dataset.name.startsWith(name))) {
      out.push({
        target: `${tc}, today pinned to ${p.today}${p.crossMonth ? ' (resource days span two months)' : ''}`,
        measured: `${p.calls} (floor ${p.floor.floor}; ${p.floor.floorMonthly} as MONTHLY returns them${resourceDaysNote(p.crossMonth, p.resourceDays)}), total exact: ${p.exact ? 'yes' : 'NO'}`,
        verdict: verdict(p.calls <= TARGET_CALLS[name]! && p.exact),
      });
    }
  }
  const tw = `Collection wall time, large dataset: first to last call ≤ ${TARGET_COLLECTION_OVER_FLOOR} × (calls − 1) / cap`;
  const large = byName('large');
  if (large && opts.only.has('calls')) {
    const floor = (large.ours.calls - 1) / CAP_RPS;
    out.push({
      target: tw,
      measured: `${large.ours.collectionSeconds} s vs ${round(floor, 2)} s (${round(large.ours.collectionSeconds / floor, 2)}x), ${large.ours.calls} calls`,
      verdict: verdict(large.ours.collectionSeconds <= TARGET_COLLECTION_OVER_FLOOR * floor),
    });
  } else skip(tw);
  for (const name of ['small', 'large']) {
    const t = `History ≤ ${TARGET_HISTORY_EVENTS} events and ≤ ${TARGET_HISTORY_BYTES / 1024} KiB per lease (${name})`;
    const d = byName(name);
    if (d && opts.only.has('history')) {
      out.push({
        target: t,
        measured: `${d.history.events} events, ${kib(d.history.bytes)} KiB`,
        verdict: verdict(d.history.events <= TARGET_HISTORY_EVENTS && d.history.bytes <= TARGET_HISTORY_BYTES),
      });
    } else skip(t);
  }

  const t3 = `${opts.rows.toLocaleString('en')}-row build: ours no slower than the Lambda CSV step (median wall), peak RSS growth ≤ half of before's`;
  if (r.report) {
    const med = (v: BuildVariant, f: (b: BuildRun) => number) =>
      median(r.report!.builds.filter((b) => b.variant === v).map(f));
    const [lambdaMs, oursMs] = [med('lambda', (b) => b.buildMs), med('ours', (b) => b.buildMs)];
    const [beforeGrowth, oursGrowth] = [med('before', growthKiB), med('ours', growthKiB)];
    out.push({
      target: t3,
      measured: `${Math.round(oursMs)} (SHA-256 ${round(
        med('ours', (b) => b.sha256Ms ?? 0),
        1,
      )}) vs ${Math.round(lambdaMs)} ms; growth ${round(oursGrowth / 1024, 1)} vs ${round(beforeGrowth / 1024, 1)} MiB (${round((oursGrowth / beforeGrowth) * 100, 0)}%)`,
      verdict: verdict(oursMs <= lambdaMs && oursGrowth * 2 <= beforeGrowth),
    });
  } else skip(t3);
  const largest = r.report?.writeReport.at(-1);
  const t3b = `writeReport at ${(opts.rows * 10).toLocaleString('en')} rows: peak RSS < ${TARGET_WRITE_REPORT_RSS_BYTES / 1024 / 1024} MiB, checksum verified, no heartbeat gap or event-loop stall ≥ ${TARGET_MAX_STALL_MS} ms`;
  if (largest) {
    out.push({
      target: t3b,
      measured: `${round(largest.peakKiB / 1024, 1)} MiB, ${round(largest.wallMs / 1000, 1)} s, SHA-256 ${largest.downloadedSha256Matches ? 'matches' : 'DIFFERS'}, gap ${Math.round(largest.maxHeartbeatGapMs)} ms, stall ${Math.round(largest.maxEventLoopDelayMs)} ms`,
      verdict: verdict(
        largest.peakKiB * 1024 < TARGET_WRITE_REPORT_RSS_BYTES &&
          largest.downloadedSha256Matches &&
          largest.maxHeartbeatGapMs < TARGET_MAX_STALL_MS &&
          largest.maxEventLoopDelayMs < TARGET_MAX_STALL_MS,
      ),
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

export function printTargets(verdicts: Target[], errors: Record<string, string>, opts: Options): void {
  printTable(
    `Targets${opts.quick ? ' (quick sizes: smoke run, not the reference sizes)' : ''}`,
    ['target', 'measured', 'result'],
    verdicts.map((t) => [t.target, t.measured, t.verdict]),
    Object.keys(errors).map((name) => `section ${name} failed: ${errors[name]!.split('\n')[0]}`),
  );
}
