// LeaseSummary objects for the chart's tests and benchmark, made by the builders writeReport uses
// (the CSV's and the summary's) from daily resource lines, as writeReport makes them from staged pages.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { addDays } from '../src/domain/billing-window';
import { reportKey } from '../src/domain/collection';
import { CostReportBuilder } from '../src/domain/csv';
import { LeaseSummary, LeaseSummaryBuilder } from '../src/domain/lease-summary';
import type { CostRow, DateRange } from '../src/domain/schemas';
import { mulberry32 } from './fakes/cost-explorer';

export interface ResourceDay {
  date: string;
  resourceName: string;
  service: string;
  region: string;
  cost: string;
}

/** The summary of a report's rows and a daily series, built as writeReport builds it (and checked by its schema). */
export function summaryFrom(
  report: CostRow[],
  daily: CostRow[],
  meta: { leaseUuid: string; version: number; billingWindow?: DateRange },
): LeaseSummary {
  const csv = new CostReportBuilder();
  const summary = new LeaseSummaryBuilder();
  csv.add(report);
  summary.addReportRows(report);
  summary.addDailyRows(daily);
  return LeaseSummary.parse(summary.finish(meta, csv.finish()));
}

/** Daily resource lines are both: the report's rows and the daily series. */
export function summaryOf(
  leaseUuid: string,
  version: number,
  rows: ResourceDay[],
  billingWindow?: DateRange,
): LeaseSummary {
  return summaryFrom(rows, rows, { leaseUuid, version, billingWindow });
}

/** `days` days from `start` of `services` services (names from `serviceName`), a few resources each, over three regions. */
export function resourceDays(opts: {
  start: string;
  days: number;
  services: number;
  resourcesPerService?: number;
  seed?: number;
  serviceName?: (i: number) => string;
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
        rows.push({
          date: addDays(opts.start, d),
          resourceName,
          service,
          region,
          cost: (rnd() * scale).toFixed(1 + Math.floor(rnd() * 10)),
        });
      }
    }
  }
  return rows;
}

/** What writeReport leaves beside the CSV (until it does so itself in these tests' branch). */
export async function putSummary(
  s3: S3Client,
  bucket: string,
  keyPrefix: string,
  summary: LeaseSummary,
): Promise<string> {
  const key = reportKey(keyPrefix, summary.leaseUuid, summary.version, 'summary');
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(summary), ContentType: 'application/json' }),
  );
  return key;
}
