// Render time of the HTML report (Vega-Lite -> Vega -> SVG, then the page) for a large summary:
// `node --import tsx bench/chart-render.ts [days] [services]` (default 90 days, 40 services).
// Pure CPU in this process; writeChart adds one GetObject and one PutObject.
import { addDays } from '../src/domain/billing-window';
import { renderLeaseReport } from '../src/domain/lease-report';
import { resourceDays, summaryOf } from '../support/lease-summary';

const days = Number(process.argv[2] ?? 90);
const services = Number(process.argv[3] ?? 40);
const start = '2026-01-01';
const summary = summaryOf(
  '00000000-0000-4000-8000-000000000001',
  1,
  resourceDays({ start, days, services, resourcesPerService: 3 }),
);
const meta = {
  leaseUuid: summary.leaseUuid,
  version: 1,
  accountId: '123456789012',
  billingWindow: { start, end: addDays(start, days) },
};

const time = async () => {
  const t0 = performance.now();
  const html = await renderLeaseReport(summary, meta);
  return { ms: performance.now() - t0, bytes: Buffer.byteLength(html) };
};
const first = await time();
const warm: number[] = [];
for (let i = 0; i < 5; i++) warm.push((await time()).ms);
warm.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    days,
    services,
    dailyRows: summary.daily.length,
    summaryBytes: Buffer.byteLength(JSON.stringify(summary)),
    htmlBytes: first.bytes,
    firstRenderMs: Math.round(first.ms),
    medianWarmRenderMs: Math.round(warm[2]!),
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  }),
);
