import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { SERVICE_LEVEL_RESOURCE } from '../../src/domain/collection';
import { buildCostCsv } from '../../src/domain/csv';
import { FOCUS_COLUMNS, FOCUS_HEADER, focusLines } from '../../src/domain/focus';
import { formatAmount, sumAmounts } from '../../src/domain/money';
import type { CostRow } from '../../src/domain/schemas';

const ctx = { accountId: '123456789012', billingWindow: { start: '2026-10-30', end: '2026-11-03' } };
const read = (text: string) => parse(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];

describe('FOCUS lines', () => {
  it('map each row to its columns: periods as UTC date/times, the billing month, exact amounts', () => {
    const rows: CostRow[] = [
      {
        resourceName: SERVICE_LEVEL_RESOURCE,
        service: 'Amazon S3',
        region: 'us-east-1',
        cost: '0.10',
        amortizedCost: '0.10',
        date: '2026-10-31',
      },
      {
        resourceName: 'arn:aws:ec2:eu-west-2:123456789012:instance/i-1',
        service: 'EC2',
        region: 'eu-west-2',
        cost: '3',
        amortizedCost: '2.16',
        date: '2026-11-01',
        periodEnd: '2026-11-03',
      },
      { resourceName: '=cmd|x', service: 'Svc, "quoted"', region: 'eu-west-2', cost: '-1.25' },
    ];
    const [s3, ec2, odd] = read(FOCUS_HEADER + focusLines(rows, ctx));
    expect(Object.keys(s3!)).toEqual([...FOCUS_COLUMNS]);
    expect(s3).toEqual({
      BilledCost: '0.10',
      BillingCurrency: 'USD',
      BillingPeriodEnd: '2026-11-01T00:00:00Z',
      BillingPeriodStart: '2026-10-01T00:00:00Z',
      ChargeCategory: 'Usage',
      ChargeClass: '',
      ChargePeriodEnd: '2026-11-01T00:00:00Z',
      ChargePeriodStart: '2026-10-31T00:00:00Z',
      EffectiveCost: '0.10',
      InvoiceIssuerName: 'AWS',
      ProviderName: 'AWS',
      PublisherName: 'AWS',
      RegionId: 'us-east-1',
      ResourceId: '',
      ServiceName: 'Amazon S3',
      SubAccountId: '123456789012',
    });
    expect(ec2).toMatchObject({
      BilledCost: '3',
      EffectiveCost: '2.16',
      ChargePeriodStart: '2026-11-01T00:00:00Z',
      ChargePeriodEnd: '2026-11-03T00:00:00Z',
      BillingPeriodStart: '2026-11-01T00:00:00Z',
      BillingPeriodEnd: '2026-12-01T00:00:00Z',
      ResourceId: 'arn:aws:ec2:eu-west-2:123456789012:instance/i-1',
    });
    // No period on the row: the billing window. No amortised amount: the billed one. Same guard as the CSV.
    expect(odd).toMatchObject({
      ChargePeriodStart: '2026-10-30T00:00:00Z',
      ChargePeriodEnd: '2026-11-03T00:00:00Z',
      EffectiveCost: '-1.25',
      ResourceId: "'=cmd|x",
      ServiceName: 'Svc, "quoted"',
    });
  });

  it('refuses an amount that is not a plain decimal', () => {
    expect(() => focusLines([{ resourceName: 'a', service: 's', region: 'r', cost: '1e3' }], ctx)).toThrow(
      /invalid amount/,
    );
  });

  it('on random rows: BilledCost adds up to the CSV total and EffectiveCost to the amortised total, exactly', () => {
    const amount = fc.stringMatching(/^-?\d{1,6}(\.\d{1,12})?$/);
    const text = fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '=', '-', 'é', ' '), maxLength: 6 });
    const rows = fc.array(
      fc.record({
        resourceName: text,
        service: text,
        region: text,
        cost: amount,
        amortizedCost: amount,
        date: fc.constantFrom('2026-10-31', '2026-11-01'),
      }),
      { maxLength: 50 },
    );
    fc.assert(
      fc.property(rows, (input) => {
        const parsed = read(FOCUS_HEADER + focusLines(input, ctx));
        expect(parsed).toHaveLength(input.length);
        expect(formatAmount(sumAmounts(parsed.map((r) => r.BilledCost!)))).toBe(buildCostCsv(input).total);
        expect(formatAmount(sumAmounts(parsed.map((r) => r.EffectiveCost!)))).toBe(
          formatAmount(sumAmounts(input.map((r) => r.amortizedCost))),
        );
      }),
      { numRuns: 200 },
    );
  });
});
