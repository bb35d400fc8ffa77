import { describe, expect, it } from 'vitest';
import { LeaseCostsResult, RecordedLeaseCostsResult, ReportRecord, WrittenReport } from '../../src/domain/schemas';

const record: ReportRecord = {
  version: 2,
  bucket: 'b',
  key: 'reports/x/lease-costs-x-v2.csv',
  chartKey: 'reports/x/lease-costs-x-v2.html',
  total: '12.3456',
  checksumSha256: 'c2hh',
  rowCount: 3,
  urlExpiresAt: '2026-12-12T00:00:00.000Z',
  resourceLevel: 'used',
  billingWindow: { start: '2026-11-01', end: '2026-11-08' },
  publishedAt: '2026-12-05T00:00:00.000Z',
};
const latest = {
  version: 2,
  key: record.key,
  checksumSha256: 'c2hh',
  total: '12.3456',
  rowCount: 3,
  resourceLevel: 'used',
  billingWindow: record.billingWindow,
};

describe('the one report shape', () => {
  it("names each field once: writeReport's result and the run's result are views of ReportRecord", () => {
    expect(
      Object.keys(WrittenReport.shape)
        .filter((k) => !(k in ReportRecord.shape))
        .sort(),
    ).toEqual(['bytes', 'summaryKey']);
    expect(Object.keys(LeaseCostsResult.shape).filter((k) => !(k in ReportRecord.shape))).toEqual(['reports']);
  });

  it("reads a completed run's result under today's names and under the names earlier releases returned", () => {
    const today = { ...latest, reports: [record] };
    expect(RecordedLeaseCostsResult.parse(today)).toEqual(today);
    const { version, key, total, ...rest } = latest;
    const before = { ...rest, reportVersion: version, s3Key: key, totalCost: total, reports: [record] };
    expect(RecordedLeaseCostsResult.parse(before)).toEqual(today);
  });

  it('refuses a result that is neither', () => {
    expect(RecordedLeaseCostsResult.safeParse({ ...latest, version: undefined, reports: [] }).success).toBe(false);
    expect(RecordedLeaseCostsResult.safeParse(null).success).toBe(false);
  });
});
