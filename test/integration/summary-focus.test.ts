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
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { FakeCostItem } from '../../support/fakes/cost-explorer';
import type { LeaseCostsResult } from '../../workflows';
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
      { service: 'Amazon Elastic Compute Cloud - Compute', resourceId: 'i-0abc', region: 'eu-west-2', amount: '1.2345678901', amortized: '0.8888888889' },
      { service: 'Amazon Simple Storage Service', resourceId: 'bucket,"quoted"', region: 'us-east-1', amount: '0.0000000007' },
      { service: 'AWS Lambda', resourceId: '=HYPERLINK("x")', region: 'eu-west-2', amount: '0.5' },
    ];
    const items: FakeCostItem[] = [];
    for (let d = window.start, i = 0; d < window.end; d = addDays(d, 1), i++) {
      for (const r of resources) {
        // Not every resource every day, so the days differ.
        if ((i + r.resourceId.length) % 4 === 0) continue;
        items.push({ accountId: ACCOUNT, date: d, service: r.service, resourceId: r.resourceId, region: r.region, amount: r.amount, amortizedAmount: r.amortized });
      }
    }
    items.push({ accountId: ACCOUNT, date: window.start, service: 'AWS Lambda', resourceId: 'credit', region: 'eu-west-2', amount: '-7', recordType: 'Credit' });
    stack.ce.addCosts(items);

    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: uuid, userEmail, accountId: ACCOUNT, terminatedAt, paddingHours: 1, rerunWindowHours: 0,
    });
    const result = await stack.client.workflow.getHandle(workflowIdFor(uuid)).result() as LeaseCostsResult;
    const usage = { accountId: ACCOUNT, start: window.start, end: window.end, recordType: 'Usage' as const };
    const total = stack.ce.expectedTotal(usage);
    const amortizedTotal = stack.ce.expectedTotal({ ...usage, metric: 'AmortizedCost' });
    expect(result.total).toBe(total);
    expect(amortizedTotal).not.toBe(total);

    const csvRows = parse((await stack.getObject(result.key)).body.toString('utf8'), { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(sum(csvRows.map((r) => r.Cost!))).toBe(total);

    const summary = LeaseSummary.parse(JSON.parse((await stack.getObject(reportKey('reports/', uuid, 1, 'summary'))).body.toString('utf8')));
    expect(summary).toMatchObject({ leaseUuid: uuid, version: 1, currency: 'USD', total, amortizedTotal, billingWindow: window });
    expect(summary.byService).toEqual(resources
      .map((r) => ({ service: r.service, cost: stack.ce.expectedTotal({ ...usage, service: r.service }) }))
      .sort((a, b) => new Decimal(b.cost).cmp(a.cost)));
    expect(sum(summary.byRegion.map((r) => r.cost))).toBe(total);
    // The daily series, key by key, is what the fake holds for that day, service and region.
    const expectedDaily = [];
    for (let d = window.start; d < window.end; d = addDays(d, 1)) {
      for (const r of [...resources].sort((a, b) => (a.service < b.service ? -1 : 1))) {
        const cost = stack.ce.expectedTotal({ ...usage, start: d, end: addDays(d, 1), service: r.service, region: r.region });
        if (cost !== '0') expectedDaily.push({ date: d, service: r.service, region: r.region, cost });
      }
    }
    expect(summary.daily).toEqual(expectedDaily);
    expect(new Set(summary.topResources.map((r) => r.resourceName))).toEqual(new Set(resources.map((r) => r.resourceId)));
    expect(summary.topResources[0]!.cost).toBe(csvRows.find((r) => r['Resource Name'] === 'i-0abc')!.Cost);

    const focus = await stack.getObject(reportKey('reports/', uuid, 1, 'focus'));
    expect(focus.checksumSha256).toBe(createHash('sha256').update(focus.body).digest('base64'));
    const text = focus.body.toString('utf8');
    expect(text.split('\r\n')[0]).toBe(FOCUS_COLUMNS.join(','));
    const lines = parse(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(sum(lines.map((l) => l.BilledCost!))).toBe(total);
    expect(sum(lines.map((l) => l.EffectiveCost!))).toBe(amortizedTotal);
    expect(new Set(lines.map((l) => l.SubAccountId))).toEqual(new Set([ACCOUNT]));
    expect(lines.every((l) => l.ChargePeriodStart! >= `${window.start}T00:00:00Z` && l.ChargePeriodEnd! <= `${window.end}T00:00:00Z`)).toBe(true);
    // Resource-level lines name their resource; service-level days have none.
    expect(lines.some((l) => l.ResourceId === "'=HYPERLINK(\"x\")")).toBe(true);
    expect(lines.some((l) => l.ResourceId === '')).toBe(true);

    const events = (await stack.published.receiveAll<Record<string, unknown>>(3000)).filter((e) => e.detail.leaseId === uuid);
    expect(events.map((e) => e.detail.focusKey)).toEqual([reportKey('reports/', uuid, 1, 'focus')]);
  });
});
