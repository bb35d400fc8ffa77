// A lease run on the production worker wiring records its report in the ledger, and
// `lease-costs costs` reads it back exactly: Cost Explorer → writeReport's summary in S3 →
// recordInLedger → PostgreSQL → the CLI.
import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, computeBillingWindow } from '../../src/domain/billing-window';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseCostsResult } from '../../workflows';
import { runCli } from '../helpers/cli';
import { dailyRows } from '../helpers/ledger';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';

const HOUR = 3600_000;
const ACCOUNT = '321098765432';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.startWorker();
});
afterAll(async () => stack?.stop());

describe('ledger end to end', () => {
  it('a published run is in the ledger, and costs reads back its exact total', async () => {
    const now = Date.now();
    const lease = {
      uuid: randomUUID(), userEmail: `ledger-${randomUUID().slice(0, 8)}@example.gov.uk`, accountId: ACCOUNT,
      startDate: new Date(now - 3 * 24 * HOUR).toISOString(), terminatedAt: new Date(now - HOUR + 3000).toISOString(),
    };
    stack.isb.addLease({ uuid: lease.uuid, userEmail: lease.userEmail, accountId: ACCOUNT, startDate: lease.startDate, status: 'Expired' });
    const window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd: lease.terminatedAt, paddingHours: 1 });
    const line = { service: 'Amazon Elastic Compute Cloud - Compute', region: 'eu-west-2', perDay: '1.2345678901' };
    stack.ce.addCosts(dailyCosts({ accountId: ACCOUNT, start: addDays(window.start, -2), end: addDays(window.end, 2), service: line.service, resourceId: 'i-0abc', region: line.region, amount: line.perDay }));
    const expectedTotal = dailyRows(window, [line]).reduce((a, d) => a.plus(d.cost), new Decimal(0)).toFixed();

    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid, userEmail: lease.userEmail, accountId: ACCOUNT, terminatedAt: lease.terminatedAt, paddingHours: 1, rerunWindowHours: 0,
    });
    const result = await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).result() as LeaseCostsResult;
    expect(result.totalCost).toBe(expectedTotal);

    const res = await runCli(['costs', '--by', 'lease', '--json', '--user', lease.userEmail], { DATABASE_URL: stack.config.DATABASE_URL! });
    expect(res.code, res.stderr).toBe(0);
    const { lines } = JSON.parse(res.stdout) as { lines: { key: string; cost: string; user: string; account: string }[] };
    expect(lines).toEqual([{ key: lease.uuid, cost: expectedTotal, leases: 1, user: lease.userEmail, account: ACCOUNT }]);
    // The per-day rows came from writeReport's summary: each day of the window, in its month.
    const days = await runCli(['costs', '--by', 'month', '--json', '--user', lease.userEmail, '--since', window.start, '--until', window.start], { DATABASE_URL: stack.config.DATABASE_URL! });
    expect(JSON.parse(days.stdout).lines).toEqual([{ key: window.start.slice(0, 7), cost: line.perDay, leases: 1 }]);
  });
});
