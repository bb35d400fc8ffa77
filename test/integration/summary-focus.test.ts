// The summary and the FOCUS file beside the CSV, through the real pipeline: real Temporal, moto S3,
// the Cost Explorer fake over HTTP, REPORT_FOCUS on.
import { createHash, randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import Decimal from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, computeBillingWindow } from '../../src/domain/billing-window';
import { reportKey } from '../../src/domain/collection';
import { FOCUS_COLUMNS } from '../../src/domain/focus';
import { LeaseSummary } from '../../src/domain/lease-summary';
import { COST_SCOPES, isbDifference, type CostScope } from '../../src/domain/cost-scope';
import type { LeaseStatus } from '../../src/domain/schemas';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { FakeCostItem, RecordType } from '../../support/fakes/cost-explorer';
import type { LeaseCostsResult } from '../../workflows';
import { runCli } from '../helpers/cli';
import { startStack, type Stack } from '../helpers/stack';

const HOUR = 3600_000;
const ACCOUNT = '246813579024';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { REPORT_FOCUS: 'true' } });
  await stack.startWorker();
});
afterAll(async () => stack?.stop());

const sum = (amounts: string[]) => amounts.reduce((t, a) => t.plus(a), new Decimal(0)).toFixed();

describe('the summary and the FOCUS file beside the CSV', () => {
  it('adds up exactly to the CSV and the fake, per day, service and region, with resource and service-level days', async () => {
    // 20 days: the older ones are service level, the last 14 resource level.
    const now = Date.now();
    const startDate = new Date(now - 20 * 24 * HOUR).toISOString();
    const terminatedAt = new Date(now - HOUR + 3000).toISOString();
    const window = computeBillingWindow({ leaseStart: startDate, leaseEnd: terminatedAt, paddingHours: 1 });
    const uuid = randomUUID();
    const userEmail = `focus-${uuid.slice(0, 8)}@example.gov.uk`;
    stack.isb.addLease({ uuid, userEmail, accountId: ACCOUNT, startDate, status: 'Expired' });

    const resources = [
      {
        service: 'Amazon Elastic Compute Cloud - Compute',
        resourceId: 'i-0abc',
        region: 'eu-west-2',
        amount: '1.2345678901',
      },
      {
        service: 'Amazon Simple Storage Service',
        resourceId: 'bucket,"quoted"',
        region: 'us-east-1',
        amount: '0.0000000007',
      },
      { service: 'AWS Lambda', resourceId: '=HYPERLINK("x")', region: 'eu-west-2', amount: '0.5' },
    ];
    const items: FakeCostItem[] = [];
    for (let d = window.start, i = 0; d < window.end; d = addDays(d, 1), i++) {
      for (const r of resources) {
        // Not every resource every day, so the days differ.
        if ((i + r.resourceId.length) % 4 === 0) continue;
        items.push({
          accountId: ACCOUNT,
          date: d,
          service: r.service,
          resourceId: r.resourceId,
          region: r.region,
          amount: r.amount,
        });
      }
    }
    items.push({
      accountId: ACCOUNT,
      date: window.start,
      service: 'AWS Lambda',
      resourceId: 'credit',
      region: 'eu-west-2',
      amount: '-7',
      recordType: 'Credit',
    });
    stack.ce.addCosts(items);

    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: uuid,
      userEmail,
      accountId: ACCOUNT,
      terminatedAt,
      paddingHours: 1,
      rerunWindowHours: 0,
    });
    const result = (await stack.client.workflow.getHandle(workflowIdFor(uuid)).result()) as LeaseCostsResult;
    const usage = { accountId: ACCOUNT, start: window.start, end: window.end, recordType: 'Usage' as const };
    const total = stack.ce.expectedTotal(usage);
    const amortizedTotal = stack.ce.expectedTotal({ ...usage, metric: 'AmortizedCost' });
    expect(result.total).toBe(total);
    // On Usage rows, the only ones COST_SCOPE=usage counts, the amortized cost is the unblended one.
    expect(amortizedTotal).toBe(total);

    const csvRows = parse((await stack.getObject(result.key)).body.toString('utf8'), {
      columns: true,
      record_delimiter: '\r\n',
    }) as Record<string, string>[];
    expect(sum(csvRows.map((r) => r.Cost!))).toBe(total);

    const summary = LeaseSummary.parse(
      JSON.parse((await stack.getObject(reportKey('reports/', uuid, 1, 'summary'))).body.toString('utf8')),
    );
    expect(summary).toMatchObject({
      leaseUuid: uuid,
      version: 1,
      currency: 'USD',
      total,
      amortizedTotal,
      billingWindow: window,
    });
    expect(summary.byService).toEqual(
      resources
        .map((r) => ({ service: r.service, cost: stack.ce.expectedTotal({ ...usage, service: r.service }) }))
        .sort((a, b) => new Decimal(b.cost).cmp(a.cost)),
    );
    expect(sum(summary.byRegion.map((r) => r.cost))).toBe(total);
    // The daily series, key by key, is what the fake holds for that day, service and region.
    const expectedDaily = [];
    for (let d = window.start; d < window.end; d = addDays(d, 1)) {
      for (const r of [...resources].sort((a, b) => (a.service < b.service ? -1 : 1))) {
        const cost = stack.ce.expectedTotal({
          ...usage,
          start: d,
          end: addDays(d, 1),
          service: r.service,
          region: r.region,
        });
        if (cost !== '0') expectedDaily.push({ date: d, service: r.service, region: r.region, cost });
      }
    }
    expect(summary.daily).toEqual(expectedDaily);
    expect(new Set(summary.topResources.map((r) => r.resourceName))).toEqual(
      new Set(resources.map((r) => r.resourceId)),
    );
    expect(summary.topResources[0]!.cost).toBe(csvRows.find((r) => r['Resource Name'] === 'i-0abc')!.Cost);

    const focus = await stack.getObject(reportKey('reports/', uuid, 1, 'focus'));
    expect(focus.checksumSha256).toBe(createHash('sha256').update(focus.body).digest('base64'));
    const text = focus.body.toString('utf8');
    expect(text.split('\r\n')[0]).toBe(FOCUS_COLUMNS.join(','));
    const lines = parse(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(sum(lines.map((l) => l.BilledCost!))).toBe(total);
    expect(sum(lines.map((l) => l.EffectiveCost!))).toBe(amortizedTotal);
    expect(new Set(lines.map((l) => l.SubAccountId))).toEqual(new Set([ACCOUNT]));
    expect(
      lines.every(
        (l) => l.ChargePeriodStart! >= `${window.start}T00:00:00Z` && l.ChargePeriodEnd! <= `${window.end}T00:00:00Z`,
      ),
    ).toBe(true);
    // Resource-level lines name their resource; service-level days have none.
    expect(lines.some((l) => l.ResourceId === '\'=HYPERLINK("x")')).toBe(true);
    expect(lines.some((l) => l.ResourceId === '')).toBe(true);

    const events = (await stack.published.receiveAll<Record<string, unknown>>(3000)).filter(
      (e) => e.detail.leaseId === uuid,
    );
    expect(events.map((e) => e.detail.focusKey)).toEqual([reportKey('reports/', uuid, 1, 'focus')]);
  });

  it('COST_SCOPE: usage counts Usage only, the other every record type but Credit and Refund; CSV, summary, FOCUS, ledger and event agree, status and HTML show the ISB difference', async () => {
    const now = Date.now();
    const startDate = new Date(now - 3 * 24 * HOUR).toISOString();
    // Settled already: each run collects at once.
    const terminatedAt = new Date(now - HOUR - 1000).toISOString();
    const window = computeBillingWindow({ leaseStart: startDate, leaseEnd: terminatedAt, paddingHours: 1 });
    const userEmail = `scope-${randomUUID().slice(0, 8)}@example.gov.uk`;
    const EC2 = 'Amazon Elastic Compute Cloud - Compute';
    const RDS = 'Amazon Relational Database Service';
    // Each day, one record of each type as Cost Explorer records it (support/fakes/cost-explorer/store.ts).
    const perDay: (Omit<FakeCostItem, 'accountId' | 'date'> & { recordType: RecordType })[] = [
      { recordType: 'Usage', service: EC2, resourceId: 'i-0ondemand', region: 'eu-west-2', amount: '1.1000000001' },
      {
        recordType: 'SavingsPlanCoveredUsage',
        service: EC2,
        resourceId: 'i-0plan',
        region: 'eu-west-2',
        amount: '2.5',
        amortizedAmount: '1.75',
      },
      { recordType: 'SavingsPlanNegation', service: EC2, resourceId: 'i-0plan', region: 'eu-west-2', amount: '-2.5' },
      {
        recordType: 'DiscountedUsage',
        service: RDS,
        resourceId: 'db-reserved',
        region: 'us-east-1',
        amount: '0',
        amortizedAmount: '0.6666666667',
      },
      {
        recordType: 'RIFee',
        service: RDS,
        resourceId: 'NoResourceId',
        region: 'us-east-1',
        amount: '0.7',
        amortizedAmount: '0.0333333333',
      },
      { recordType: 'Credit', service: EC2, resourceId: 'NoResourceId', region: 'eu-west-2', amount: '-3' },
      { recordType: 'Refund', service: 'AWS Lambda', resourceId: 'NoResourceId', region: 'eu-west-2', amount: '-0.25' },
      { recordType: 'Tax', service: 'Tax', resourceId: 'NoResourceId', region: 'global', amount: '0.33' },
    ];
    let days = 0;
    for (let d = window.start; d < window.end; d = addDays(d, 1)) days++;
    // By hand, per day: Usage alone; or everything but the credit and refund (the plan's usage and
    // its negation cancel in unblended cost; amortized, the plan's and the reservation's rates count).
    const want: Record<
      CostScope,
      { billed: string; effective: string; filter: { recordTypes?: RecordType[]; exceptRecordTypes?: RecordType[] } }
    > = {
      usage: { billed: '1.1000000001', effective: '1.1000000001', filter: { recordTypes: ['Usage'] } },
      'all-except-credits-refunds': {
        billed: '2.1300000001',
        effective: '3.8800000001',
        filter: { exceptRecordTypes: ['Credit', 'Refund'] },
      },
    };
    const isbAccrued = '5.5';
    const cliEnv = {
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
      DATABASE_URL: stack.config.DATABASE_URL!,
    };
    try {
      for (const [i, scope] of COST_SCOPES.entries()) {
        // The setting is the worker's: the same records, a lease on another account, another scope.
        stack.config.COST_SCOPE = scope;
        if (i > 0) await stack.startWorker();
        const accountId = `13579246800${i}`;
        const uuid = randomUUID();
        stack.isb.addLease({
          uuid,
          userEmail,
          accountId,
          startDate,
          status: 'Expired',
          extra: { totalCostAccrued: Number(isbAccrued) },
        });
        for (let d = window.start; d < window.end; d = addDays(d, 1))
          stack.ce.addCosts(perDay.map((r) => ({ ...r, accountId, date: d })));
        await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
          leaseUuid: uuid,
          userEmail,
          accountId,
          terminatedAt,
          paddingHours: 1,
          rerunWindowHours: 0,
        });
        const result = (await stack.client.workflow.getHandle(workflowIdFor(uuid)).result()) as LeaseCostsResult;

        const total = new Decimal(want[scope].billed).times(days).toFixed();
        const effective = new Decimal(want[scope].effective).times(days).toFixed();
        const counted = { accountId, ...window, ...want[scope].filter };
        expect(
          [stack.ce.expectedTotal(counted), stack.ce.expectedTotal({ ...counted, metric: 'AmortizedCost' })],
          scope,
        ).toEqual([total, effective]);
        expect(result.total, scope).toBe(total);
        const csvRows = parse((await stack.getObject(result.key)).body.toString('utf8'), {
          columns: true,
          record_delimiter: '\r\n',
        }) as Record<string, string>[];
        expect(sum(csvRows.map((r) => r.Cost!)), scope).toBe(total);
        const summary = LeaseSummary.parse(
          JSON.parse((await stack.getObject(reportKey('reports/', uuid, 1, 'summary'))).body.toString('utf8')),
        );
        expect(summary, scope).toMatchObject({ total, amortizedTotal: effective, costScope: scope });
        const focus = parse((await stack.getObject(reportKey('reports/', uuid, 1, 'focus'))).body.toString('utf8'), {
          columns: true,
          record_delimiter: '\r\n',
        }) as Record<string, string>[];
        expect([sum(focus.map((l) => l.BilledCost!)), sum(focus.map((l) => l.EffectiveCost!))], scope).toEqual([
          total,
          effective,
        ]);
        // Published before the run's result: no long wait.
        const [event] = (await stack.published.receiveAll<Record<string, unknown>>(1000)).filter(
          (e) => e.detail.leaseId === uuid,
        );
        expect(event?.detail, scope).toMatchObject({
          totalCostExact: total,
          costScope: scope,
          totalCostAccrued: isbAccrued,
        });

        // Ours beside the ISB's totalCostAccrued, with the exact difference and why.
        const difference = isbDifference(total, isbAccrued);
        expect(difference).toBe(new Decimal(total).minus(isbAccrued).toFixed());
        const status = await stack.client.workflow.getHandle(workflowIdFor(uuid)).query<LeaseStatus>('status');
        const html = (await stack.getObject(status.reports.at(-1)!.chartKey!)).body.toString('utf8');
        expect(html).toContain(`<dd id="isb">${isbAccrued} USD</dd>`);
        expect(html).toContain(`<dd id="isb-difference">${difference} USD</dd>`);
        expect(html).toMatch(new RegExp(`<dd id="cost-scope">${scope}: `));
        expect(html).toContain('<p id="isb-note">');
        if (scope === 'usage') {
          // The CLI once: its text comes from the same status, and usage is the case with most to explain.
          const text = await runCli(['status', uuid], cliEnv);
          expect(text.code, text.stderr).toBe(0);
          expect(text.stdout).toContain(
            `ISB total    ${isbAccrued} USD (totalCostAccrued); ours − ISB = ${difference} USD. The ISB counts every record type except credits and refunds`,
          );
          expect(text.stdout).toContain('counted      usage: record type Usage only');
        }
      }
      // The ledger records each report's scope: one user's two leases, one line per scope, exact.
      const byScope = await runCli(['costs', '--by', 'scope', '--json', '--user', userEmail], cliEnv);
      expect(byScope.code, byScope.stderr).toBe(0);
      expect(
        new Map(
          (JSON.parse(byScope.stdout) as { lines: { key: string; cost: string }[] }).lines.map((l) => [l.key, l.cost]),
        ),
      ).toEqual(new Map(COST_SCOPES.map((scope) => [scope, new Decimal(want[scope].billed).times(days).toFixed()])));
      // A sum over both says it mixes them.
      const mixed = await runCli(['costs', '--by', 'user', '--json', '--user', userEmail], cliEnv);
      expect(mixed.stderr).toMatch(
        /different COST_SCOPEs \(.*: 1 leases, .*: 1 leases\); see --by scope, or pick one with --scope/,
      );
    } finally {
      // The file's last test: afterAll stops the worker, still on the other scope.
      stack.config.COST_SCOPE = 'usage';
    }
  }, 120_000);
});
