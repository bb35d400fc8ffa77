// A lease run on the production worker wiring records its report in the ledger, and
// `lease-costs costs` reads it back exactly: workflow → recordInLedger → PostgreSQL → CLI.
import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, computeBillingWindow } from '../../src/domain/billing-window';
import { reportKey } from '../../src/domain/collection';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseCostsResult } from '../../workflows';
import { runCli } from '../helpers/cli';
import { dailyRows, summaryOf } from '../helpers/ledger';
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
    // The summary beside the CSV, where writeReport puts it (key from lease and version alone).
    const summary = summaryOf({ leaseUuid: lease.uuid, version: 1, userEmail: lease.userEmail, accountId: ACCOUNT, window, daily: dailyRows(window, [line]) });
    await stack.s3.send(new PutObjectCommand({
      Bucket: stack.config.S3_BUCKET_NAME, Key: reportKey(stack.config.S3_KEY_PREFIX, lease.uuid, 1, 'summary'), Body: JSON.stringify(summary),
    }));

    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid, userEmail: lease.userEmail, accountId: ACCOUNT, terminatedAt: lease.terminatedAt, paddingHours: 1, rerunWindowHours: 0,
    });
    const result = await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).result() as LeaseCostsResult;
    expect(result.totalCost).toBe(summary.total);

    const res = await runCli(['costs', '--by', 'lease', '--json', '--user', lease.userEmail], { DATABASE_URL: stack.config.DATABASE_URL! });
    expect(res.code, res.stderr).toBe(0);
    const { lines } = JSON.parse(res.stdout) as { lines: { key: string; cost: string; user: string; account: string }[] };
    expect(lines).toEqual([{ key: lease.uuid, cost: new Decimal(result.totalCost).toFixed(), leases: 1, user: lease.userEmail, account: ACCOUNT }]);
  });
});
