// LeaseSummary objects for the chart's tests and benchmark, made the way the summary's contract
// (src/domain/lease-summary.ts) describes them: exact sums of the resource lines they come from.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { addDays } from '../../src/domain/billing-window';
import { reportKey } from '../../src/domain/collection';
import { LeaseSummary, SUMMARY_TOP_RESOURCES } from '../../src/domain/lease-summary';
import { formatAmount, Money, parseAmount } from '../../src/domain/money';
import { mulberry32 } from '../../src/dev/fakes/cost-explorer';

export interface ResourceDay { date: string; resourceName: string; service: string; region: string; cost: string }

type Sums = Map<string, InstanceType<typeof Money>>;
const add = (m: Sums, k: string, cost: string) => m.set(k, (m.get(k) ?? new Money(0)).plus(parseAmount(cost)));
const SEP = '\u0000';
/** Largest first, ties by key, as the contract orders them. */
const ranked = (m: Sums) => [...m].sort(([ka, a], [kb, b]) => b.cmp(a) || (ka < kb ? -1 : ka > kb ? 1 : 0));

export function summaryOf(leaseUuid: string, version: number, rows: ResourceDay[], billingWindow?: { start: string; end: string }): LeaseSummary {
  const total: Sums = new Map([['', new Money(0)]]);
  const byService: Sums = new Map();
  const byRegion: Sums = new Map();
  const daily: Sums = new Map();
  const byResource: Sums = new Map();
  for (const r of rows) {
    add(total, '', r.cost);
    add(byService, r.service, r.cost);
    add(byRegion, r.region, r.cost);
    add(daily, [r.date, r.service, r.region].join(SEP), r.cost);
    add(byResource, [r.resourceName, r.service, r.region].join(SEP), r.cost);
  }
  return LeaseSummary.parse({
    leaseUuid, version, currency: 'USD', billingWindow,
    total: formatAmount(total.get('')!),
    byService: ranked(byService).map(([service, c]) => ({ service, cost: formatAmount(c) })),
    byRegion: ranked(byRegion).map(([region, c]) => ({ region, cost: formatAmount(c) })),
    daily: [...daily].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, c]) => {
      const [date, service, region] = k.split(SEP) as [string, string, string];
      return { date, service, region, cost: formatAmount(c) };
    }),
    topResources: ranked(byResource).slice(0, SUMMARY_TOP_RESOURCES).map(([k, c]) => {
      const [resourceName, service, region] = k.split(SEP) as [string, string, string];
      return { resourceName, service, region, cost: formatAmount(c) };
    }),
  });
}

/** `days` days from `start` of `services` services (names from `serviceName`), a few resources each, over three regions. */
export function resourceDays(opts: {
  start: string; days: number; services: number; resourcesPerService?: number; seed?: number; serviceName?: (i: number) => string;
  resourceName?: (service: number, i: number) => string;
}): ResourceDay[] {
  const rnd = mulberry32(opts.seed ?? 7);
  const regions = ['eu-west-2', 'us-east-1', ''];
  const rows: ResourceDay[] = [];
  for (let s = 0; s < opts.services; s++) {
    const service = opts.serviceName?.(s) ?? `Service ${String(s + 1).padStart(2, '0')}`;
    // Costlier services first, so the ranking is visible in the chart.
    const scale = 40 / (s + 1);
    for (let r = 0; r < (opts.resourcesPerService ?? 2); r++) {
      const resourceName = opts.resourceName?.(s, r) ?? `arn:aws:svc${s}:eu-west-2:123456789012:thing/r-${s}-${r}`;
      const region = regions[(s + r) % regions.length]!;
      for (let d = 0; d < opts.days; d++) {
        if (rnd() < 0.1) continue;
        // Up to 10 decimal places, as Cost Explorer sends.
        rows.push({ date: addDays(opts.start, d), resourceName, service, region, cost: (rnd() * scale).toFixed(1 + Math.floor(rnd() * 10)) });
      }
    }
  }
  return rows;
}

/** What writeReport leaves beside the CSV (until it does so itself in these tests' branch). */
export async function putSummary(s3: S3Client, bucket: string, keyPrefix: string, summary: LeaseSummary): Promise<string> {
  const key = reportKey(keyPrefix, summary.leaseUuid, summary.version, 'summary');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(summary), ContentType: 'application/json' }));
  return key;
}
