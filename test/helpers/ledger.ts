import { randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { reportKey } from '../../src/domain/collection';
import type { DailyCost, LeaseSummary } from '../../src/domain/lease-summary';
import type { LedgerEntry } from '../../src/domain/ledger';
import { formatAmount, sumAmounts } from '../../src/domain/money';
import { createLedgerActivities } from '../../activities/ledger-activities';
import type { LedgerDb } from '../../src/infrastructure/ledger-db';
import { createSummaryReader } from '../../src/infrastructure/summary-reader';
import { clientConfig, createBucket } from '../../support/aws';

const PREFIX = 'reports/';

/** A lease's report as the ledger test cases describe it: who, the window, and its daily costs. */
export interface TestReport {
  leaseUuid: string;
  version: number;
  userEmail: string;
  accountId: string;
  window: { start: string; end: string };
  daily: DailyCost[];
  publishedAt?: string;
}

function groupSum<K extends string>(rows: DailyCost[], key: (d: DailyCost) => string, name: K) {
  const groups = new Map<string, string[]>();
  for (const d of rows) groups.set(key(d), [...(groups.get(key(d)) ?? []), d.cost]);
  return [...groups].map(
    ([k, costs]) => ({ [name]: k, cost: formatAmount(sumAmounts(costs)) }) as Record<K, string> & { cost: string },
  );
}

/** The summary data17's writeReport puts beside the CSV, made here from the daily rows. */
export function summaryOf(r: TestReport, total?: string): LeaseSummary {
  return {
    leaseUuid: r.leaseUuid,
    version: r.version,
    currency: 'USD',
    total: total ?? formatAmount(sumAmounts(r.daily.map((d) => d.cost))),
    byService: groupSum(r.daily, (d) => d.service, 'service'),
    byRegion: groupSum(r.daily, (d) => d.region, 'region'),
    daily: r.daily,
    topResources: [],
    billingWindow: r.window,
  };
}

/** A bucket in moto, and the activity reading summaries from it and writing to `db`. */
export async function ledgerFixture(motoEndpoint: string, db: LedgerDb) {
  const bucket = `ledger-${randomBytes(4).toString('hex')}`;
  await createBucket(motoEndpoint, bucket);
  const s3 = new S3Client(clientConfig(motoEndpoint));
  const { recordInLedger } = createLedgerActivities({ db, readSummary: createSummaryReader(s3, bucket, PREFIX) });
  const entryOf = (r: TestReport): LedgerEntry => ({
    leaseUuid: r.leaseUuid,
    version: r.version,
    userEmail: r.userEmail,
    accountId: r.accountId,
    billingWindow: r.window,
    total: summaryOf(r).total,
    bucket,
    reportKey: reportKey(PREFIX, r.leaseUuid, r.version),
    publishedAt: r.publishedAt ?? new Date().toISOString(),
  });
  return {
    bucket,
    s3,
    recordInLedger,
    entryOf,
    async putSummary(r: TestReport, summary: unknown = summaryOf(r)) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: reportKey(PREFIX, r.leaseUuid, r.version, 'summary'),
          Body: JSON.stringify(summary),
        }),
      );
    },
    /** Writes the summary, then records the report as the workflow does after publishing. */
    async publish(r: TestReport) {
      await this.putSummary(r);
      return recordInLedger(entryOf(r));
    },
  };
}

/** Daily rows over [start, end) for each (service, region, amount per day). */
export function dailyRows(
  window: { start: string; end: string },
  lines: { service: string; region: string; perDay: string }[],
): DailyCost[] {
  const rows: DailyCost[] = [];
  for (
    let d = new Date(`${window.start}T00:00:00Z`);
    d < new Date(`${window.end}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1)
  ) {
    for (const l of lines)
      rows.push({ date: d.toISOString().slice(0, 10), service: l.service, region: l.region, cost: l.perDay });
  }
  return rows.sort(
    (a, b) => a.date.localeCompare(b.date) || a.service.localeCompare(b.service) || a.region.localeCompare(b.region),
  );
}

export const newLease = (over: Partial<TestReport> & Pick<TestReport, 'window'>): TestReport => ({
  leaseUuid: randomUUID(),
  version: 1,
  userEmail: 'ada@example.gov.uk',
  accountId: '111122223333',
  daily: [],
  ...over,
});
