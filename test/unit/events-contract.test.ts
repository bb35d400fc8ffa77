// The contract check every captured event goes through (support/events.ts): it must refuse
// what the NDX notification service refuses, or the integration tests would prove nothing.
import { describe, expect, it } from 'vitest';
import { SAMPLE_TERMINATION_REASONS } from '../../support/fakes/sample-data';
import { LeaseCostsReportPublishedDetail } from '../../src/domain/events';
import { checkEventContract } from '../../support/events';

const generated = {
  leaseId: '550e8400-e29b-41d4-a716-446655440000',
  userEmail: 'ada.lovelace@example.gov.uk',
  accountId: '123456789012',
  totalCost: 12.35,
  currency: 'USD',
  startDate: '2026-01-15',
  endDate: '2026-02-04',
  csvUrl: 'https://bucket.s3.amazonaws.com/lease.csv?X-Amz-Signature=abc',
  urlExpiresAt: '2026-02-10T12:00:00.000Z',
};
const published = {
  schemaVersion: 1,
  leaseId: generated.leaseId,
  userEmail: generated.userEmail,
  accountId: generated.accountId,
  totalCostExact: '12.3456',
  currency: 'USD',
  costScope: 'usage',
  reportVersion: 1,
  s3Bucket: 'b',
  s3Key: 'reports/x.csv',
  checksumSha256: 'c2hh',
  rowCount: 3,
  resourceLevel: 'used',
  billingPeriodStart: '2026-01-15',
  billingPeriodEndExclusive: '2026-02-04',
  reportUrl: 'https://bucket.s3.amazonaws.com/lease.html?X-Amz-Signature=abc',
  urlExpiresAt: generated.urlExpiresAt,
  focusKey: null,
  terminationReason: SAMPLE_TERMINATION_REASONS.Ejected,
  idempotencyKey: `${generated.leaseId}:v1`,
  costReportGroup: 'research',
  originalLeaseTemplateName: 'sandbox',
  maxSpend: '50',
  totalCostAccrued: '12.5',
  sharedDays: [{ leaseUuid: '1b0f9f3e-2f4c-4d6b-9a8e-3c5d7e9f1a2b', days: ['2026-01-15'], countedHere: [] }],
};
const event = (detailType: string, detail: object) => ({ 'detail-type': detailType, source: 'isb-costs', detail });
const without = (o: Record<string, unknown>, key: string) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

describe('LeaseCostsGenerated contract (NDX LeaseCostsGeneratedDetailSchema, strict)', () => {
  it('accepts the nine fields, a zero and a negative total', () => {
    for (const totalCost of [12.35, 0, -1.25])
      expect(() => checkEventContract(event('LeaseCostsGenerated', { ...generated, totalCost }))).not.toThrow();
  });

  it.each(Object.keys(generated))('refuses it without %s', (key) => {
    expect(() => checkEventContract(event('LeaseCostsGenerated', without(generated, key)))).toThrow(
      new RegExp(`LeaseCostsGenerated breaks its contract: ${key}:`),
    );
  });

  it.each([
    ['any extra field', { ...generated, totalCostExact: '12.3456' }, /Unrecognized key.*totalCostExact/],
    ['totalCost as a string', { ...generated, totalCost: '12.35' }, /totalCost:/],
    ['a currency other than USD', { ...generated, currency: 'GBP' }, /currency:/],
    ['a datetime for startDate', { ...generated, startDate: '2026-01-15T00:00:00Z' }, /startDate must be YYYY-MM-DD/],
    ['a non-v4 uuid', { ...generated, leaseId: '550e8400-e29b-11d4-a716-446655440000' }, /must be valid UUID v4/],
    ['an e-mail with ++', { ...generated, userEmail: 'a++b@example.gov.uk' }, /userEmail:/],
    ['an 11-digit account', { ...generated, accountId: '12345678901' }, /accountId:/],
    [
      'an expiry with an offset',
      { ...generated, urlExpiresAt: '2026-02-10T12:00:00+01:00' },
      /urlExpiresAt must be ISO 8601/,
    ],
  ])('refuses %s', (_name, detail, message) => {
    expect(() => checkEventContract(event('LeaseCostsGenerated', detail))).toThrow(message);
  });
});

describe('LeaseCostsReportPublished contract (src/domain/events.ts)', () => {
  it('accepts the documented fields, with or without a reason and a FOCUS key', () => {
    expect(() => checkEventContract(event('LeaseCostsReportPublished', published))).not.toThrow();
    expect(() =>
      checkEventContract(
        event('LeaseCostsReportPublished', { ...published, terminationReason: null, focusKey: 'reports/x.focus.csv' }),
      ),
    ).not.toThrow();
  });

  it.each(Object.keys(LeaseCostsReportPublishedDetail.shape))('refuses it without %s', (key) => {
    expect(() => checkEventContract(event('LeaseCostsReportPublished', without(published, key)))).toThrow(
      /LeaseCostsReportPublished breaks its contract/,
    );
  });

  it('refuses an undocumented field and a float total', () => {
    expect(() => checkEventContract(event('LeaseCostsReportPublished', { ...published, csvUrl: 'https://x' }))).toThrow(
      /Unrecognized key/,
    );
    expect(() =>
      checkEventContract(event('LeaseCostsReportPublished', { ...published, totalCostExact: 12.3456 })),
    ).toThrow(/totalCostExact/);
  });
});
