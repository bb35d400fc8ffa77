import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SERVICE_LEVEL_RESOURCE, stagedPartsOf } from '../../src/domain/collection';
import { buildCostCsv } from '../../src/domain/csv';
import { SUMMARY_TOP_RESOURCES } from '../../src/domain/lease-summary';
import { sumAmounts, formatAmount } from '../../src/domain/money';
import type { CostRow } from '../../src/domain/schemas';
import { generateCostRows } from '../../support/cost-rows';
import { summaryFrom } from '../../support/lease-summary';

const row = (
  resourceName: string,
  service: string,
  region: string,
  cost: string,
  extra: Partial<CostRow> = {},
): CostRow => ({ resourceName, service, region, cost, ...extra });

const summarise = (report: CostRow[], daily: CostRow[] = []) =>
  summaryFrom(report, daily, { leaseUuid: '6f1c3a52-0c2d-4a55-9f53-0b7f2f3b6c11', version: 2 });

describe('LeaseSummaryBuilder', () => {
  it('adds up services, regions, the amortised total and the days exactly', () => {
    const report = [
      row('i-1', 'EC2', 'eu-west-2', '0.1', { amortizedCost: '0.07' }),
      row('i-1', 'EC2', 'eu-west-2', '0.2', { amortizedCost: '0.14' }),
      row('b', 'S3', 'us-east-1', '0.3'),
      row('f', 'Lambda', 'eu-west-2', '-0.05'),
    ];
    const daily = [
      row(SERVICE_LEVEL_RESOURCE, 'EC2', 'eu-west-2', '0.1', { date: '2026-11-02' }),
      row(SERVICE_LEVEL_RESOURCE, 'S3', 'us-east-1', '0.3', { date: '2026-11-01' }),
      row(SERVICE_LEVEL_RESOURCE, 'EC2', 'eu-west-2', '0.2', { date: '2026-11-01' }),
      // The same key on a later page (a day split across two pages) adds up.
      row(SERVICE_LEVEL_RESOURCE, 'EC2', 'eu-west-2', '0.0000000001', { date: '2026-11-01' }),
      // A monthly row is not a day.
      row('i-1', 'EC2', 'eu-west-2', '9', { date: '2026-11-01', periodEnd: '2026-12-01' }),
    ];
    const s = summarise(report, daily);
    expect(s.total).toBe('0.55');
    expect(s.amortizedTotal).toBe('0.46');
    expect(s.byService).toEqual([
      { service: 'EC2', cost: '0.3' },
      { service: 'S3', cost: '0.3' },
      { service: 'Lambda', cost: '-0.05' },
    ]);
    expect(s.byRegion).toEqual([
      { region: 'us-east-1', cost: '0.3' },
      { region: 'eu-west-2', cost: '0.25' },
    ]);
    expect(s.daily).toEqual([
      { date: '2026-11-01', service: 'EC2', region: 'eu-west-2', cost: '0.2000000001' },
      { date: '2026-11-01', service: 'S3', region: 'us-east-1', cost: '0.3' },
      { date: '2026-11-02', service: 'EC2', region: 'eu-west-2', cost: '0.1' },
    ]);
    expect(s.topResources).toEqual([
      { resourceName: 'i-1', service: 'EC2', region: 'eu-west-2', cost: '0.3' },
      { resourceName: 'b', service: 'S3', region: 'us-east-1', cost: '0.3' },
      { resourceName: 'f', service: 'Lambda', region: 'eu-west-2', cost: '-0.05' },
    ]);
  });

  it('lists the costliest resource lines, aggregated, never the service-level pseudo-resource', () => {
    const report = [
      row(SERVICE_LEVEL_RESOURCE, 'EC2', 'eu-west-2', '1000'),
      ...Array.from({ length: 30 }, (_, i) => row(`r-${i}`, `svc-${i % 4}`, 'eu-west-1', String(i))),
      // Split across pages: the line is their sum, 29.5, second only to r-29.
      row('r-3', 'svc-3', 'eu-west-1', '26.5'),
    ];
    const s = summarise(report);
    expect(s.topResources.map((r) => `${r.resourceName}=${r.cost}`)).toEqual([
      'r-3=29.5',
      'r-29=29',
      'r-28=28',
      'r-27=27',
      'r-26=26',
      'r-25=25',
      'r-24=24',
      'r-23=23',
      'r-22=22',
      'r-21=21',
    ]);
  });

  it('has no top resources for a service-level report', () => {
    expect(summarise([row(SERVICE_LEVEL_RESOURCE, 'EC2', 'eu-west-2', '3')]).topResources).toEqual([]);
  });

  it('leaves the CSV byte for byte as it was: dates and amortised amounts are not in it', () => {
    const rows = generateCostRows(2_000, 7);
    const dated = rows.map((r, i) => ({
      ...r,
      date: `2026-11-${String(1 + (i % 28)).padStart(2, '0')}`,
      amortizedCost: '1.5',
    }));
    expect(buildCostCsv(dated).csv).toBe(buildCostCsv(rows).csv);
  });

  it('on random rows: services, regions and days each add up to the exact total; top resources are the largest lines', () => {
    const amount = fc.stringMatching(/^-?\d{1,4}(\.\d{1,10})?$/);
    const name = fc.constantFrom('a', 'b', 'c', 'd', SERVICE_LEVEL_RESOURCE);
    const rows = fc.array(
      fc.record({
        resourceName: name,
        service: fc.constantFrom('S1', 'S2', 'S3'),
        region: fc.constantFrom('r1', 'r2'),
        cost: amount,
        date: fc.constantFrom('2026-11-01', '2026-11-02', '2026-11-03'),
      }),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(rows, (input) => {
        const s = summarise(input, input);
        const total = formatAmount(sumAmounts(input.map((r) => r.cost)));
        expect(s.total).toBe(total);
        expect(s.amortizedTotal).toBe(total);
        for (const parts of [s.byService, s.byRegion, s.daily])
          expect(formatAmount(sumAmounts(parts.map((p) => p.cost)))).toBe(total);
        expect(s.topResources.length).toBeLessThanOrEqual(SUMMARY_TOP_RESOURCES);
        expect(s.topResources.some((r) => r.resourceName === SERVICE_LEVEL_RESOURCE)).toBe(false);
        const costs = s.topResources.map((r) => sumAmounts([r.cost]));
        for (let i = 1; i < costs.length; i++) expect(costs[i - 1]!.gte(costs[i]!)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('stagedPartsOf', () => {
  it('sends regions pages to the daily series only, resource pages to the report only', () => {
    const range = { start: '2026-11-01', end: '2026-11-08' };
    const parts = stagedPartsOf({
      stagingPrefix: 'p/',
      segments: [
        { kind: 'service', range, pages: 1 },
        { kind: 'regions', range, pages: 2 },
        { kind: 'resource', range, region: 'eu-west-2', pages: 1 },
      ],
    });
    expect(parts).toEqual([
      { key: 'p/000/000000.json', report: true, daily: true },
      { key: 'p/001/000000.json', report: false, daily: true },
      { key: 'p/001/000001.json', report: false, daily: true },
      { key: 'p/002/000000.json', report: true, daily: false },
    ]);
  });
});
