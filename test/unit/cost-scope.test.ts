// Which costs count: the setting, the one record-type filter every query carries, and the Cost
// Explorer fake's record types, which hold only what a real account can show.
import { describe, expect, it } from 'vitest';
import { recordTypeFilter, resourceLevelQuery, serviceLevelQuery } from '../../activities/cost-explorer';
import {
  COST_SCOPES,
  describeCostScope,
  isbComparison,
  isbDifference,
  whyIsbDiffers,
} from '../../src/domain/cost-scope';
import { loadConfig, type ConfigError } from '../../src/infrastructure/config';
import { CostStore, RECORD_TYPES, type FakeCostItem } from '../../support/fakes/cost-explorer/store';

const ACCOUNT = '123456789012';

describe('COST_SCOPE', () => {
  it('defaults to usage, takes both values, and refuses anything else naming the variable and the choices', () => {
    expect(loadConfig({}, ['client']).COST_SCOPE).toBe('usage');
    for (const scope of COST_SCOPES)
      expect(loadConfig({ COST_SCOPE: ` ${scope} ` }, ['client']).COST_SCOPE).toBe(scope);
    for (const bad of ['Usage', 'isb', 'all', '']) {
      let problems: ConfigError['problems'] = [];
      try {
        loadConfig({ COST_SCOPE: bad }, ['client']);
      } catch (err) {
        problems = (err as ConfigError).problems;
      }
      expect(problems, bad).toEqual([
        { variable: 'COST_SCOPE', message: 'must be usage or all-except-credits-refunds' },
      ]);
    }
  });
});

describe('recordTypeFilter (activities/cost-explorer.ts)', () => {
  it("usage is RECORD_TYPE = Usage; the other scope is the ISB's own expression", () => {
    expect(recordTypeFilter('usage')).toEqual({ Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } });
    // source/common/isb-services/cost-explorer-service.ts in aws-solutions/innovation-sandbox-on-aws, verbatim.
    expect(recordTypeFilter('all-except-credits-refunds')).toEqual({
      Not: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Credit', 'Refund'], MatchOptions: ['EQUALS'] } },
    });
  });

  it('every collection query carries it next to the account, service level and resource level alike', () => {
    const range = { start: '2026-03-01', end: '2026-03-04' };
    for (const scope of COST_SCOPES) {
      const service = serviceLevelQuery({ range }, ACCOUNT, scope);
      expect(service.Filter).toEqual({
        And: [{ Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } }, recordTypeFilter(scope)],
      });
      const resource = resourceLevelQuery(
        { range, byRegion: { 'eu-west-2': ['AWS Lambda'] } },
        ACCOUNT,
        scope,
        'MONTHLY',
      );
      expect(resource.Filter?.And?.slice(0, 2)).toEqual([
        { Dimensions: { Key: 'LINKED_ACCOUNT', Values: [ACCOUNT] } },
        recordTypeFilter(scope),
      ]);
    }
  });

  it('says what each scope counts, and the difference to the ISB exactly', () => {
    expect(describeCostScope('usage')).toBe('usage: record type Usage only');
    expect(describeCostScope('all-except-credits-refunds')).toMatch(/every record type except Credit and Refund/);
    expect(isbDifference('12.3456789012', '12.5')).toBe('-0.1543210988');
    expect(isbDifference('0.1', '0.1')).toBe('0');
    expect(whyIsbDiffers('usage')).toMatch(/counts Usage only/);
    expect(isbComparison('1', undefined, 'usage')).toBeUndefined();
    expect(isbComparison('10.2', '10', undefined)).toMatchObject({ difference: '0.2', costScope: 'usage' });
  });
});

describe("the Cost Explorer fake's record types (support/fakes/cost-explorer/store.ts)", () => {
  const item = (over: Partial<FakeCostItem>): FakeCostItem => ({
    accountId: ACCOUNT,
    date: '2026-03-01',
    service: 'Amazon Elastic Compute Cloud - Compute',
    resourceId: 'i-0abc',
    region: 'eu-west-2',
    amount: '1.5',
    ...over,
  });

  it('refuses an unknown record type and what no real account shows', () => {
    const store = new CostStore();
    expect(() => store.add(item({ recordType: 'Savings' as never }))).toThrow(/unknown recordType "Savings"/);
    // Covered usage is never Usage with a lower amortized cost.
    expect(() => store.add(item({ amortizedAmount: '1.08' }))).toThrow(/SavingsPlanCoveredUsage or DiscountedUsage/);
    expect(() => store.add(item({ recordType: 'Tax', amortizedAmount: '1' }))).toThrow(
      /AmortizedCost equals its UnblendedCost/,
    );
    expect(() => store.add(item({ recordType: 'SavingsPlanNegation', amount: '1.5' }))).toThrow(/UnblendedCost <= 0/);
    expect(() => store.add(item({ recordType: 'SavingsPlanNegation', amount: '-1.5', amortizedAmount: '-1' }))).toThrow(
      /no AmortizedCost/,
    );
    expect(() => store.add(item({ recordType: 'DiscountedUsage', amount: '0.4', amortizedAmount: '0.4' }))).toThrow(
      /UnblendedCost 0/,
    );
    expect(store.size()).toBe(0);
    expect(RECORD_TYPES).toEqual(
      expect.arrayContaining([
        'Usage',
        'DiscountedUsage',
        'RIFee',
        'SavingsPlanCoveredUsage',
        'SavingsPlanNegation',
        'Credit',
        'Refund',
        'Tax',
      ]),
    );
  });

  it("keeps each type's two metrics as AWS documents them, and totals per scope", () => {
    const store = new CostStore();
    store.add(item({ amount: '1.1' }));
    store.add(
      item({ resourceId: 'i-0plan', recordType: 'SavingsPlanCoveredUsage', amount: '2.5', amortizedAmount: '1.75' }),
    );
    store.add(item({ resourceId: 'i-0plan', recordType: 'SavingsPlanNegation', amount: '-2.5' }));
    store.add(item({ resourceId: 'db-ri', recordType: 'DiscountedUsage', amount: '0', amortizedAmount: '0.6' }));
    store.add(item({ resourceId: 'NoResourceId', recordType: 'RIFee', amount: '0.7', amortizedAmount: '0.1' }));
    store.add(item({ resourceId: 'NoResourceId', recordType: 'Credit', amount: '-3' }));
    store.add(item({ resourceId: 'NoResourceId', recordType: 'Refund', amount: '-0.25' }));
    store.add(
      item({ service: 'Tax', resourceId: 'NoResourceId', region: 'global', recordType: 'Tax', amount: '0.33' }),
    );
    const day = { accountId: ACCOUNT, start: '2026-03-01', end: '2026-03-02' };
    const both = (f: object) => [
      store.expectedTotal({ ...day, ...f }),
      store.expectedTotal({ ...day, ...f, metric: 'AmortizedCost' }),
    ];
    expect(both({ recordTypes: ['Usage'] })).toEqual(['1.1', '1.1']);
    expect(both({ exceptRecordTypes: ['Credit', 'Refund'] })).toEqual(['2.13', '3.88']);
    expect(both({ recordType: 'SavingsPlanNegation' })).toEqual(['-2.5', '0']);
    expect(both({})).toEqual(['-1.12', '0.63']);
  });
});
