// A lease run on the production worker wiring records its report in the ledger, and
// `lease-costs costs` reads it back exactly: Cost Explorer → writeReport's summary in S3 →
// recordInLedger → PostgreSQL → the CLI.
import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { addDays, computeBillingWindow } from '../../src/domain/billing-window';
import { ISB_NO_GROUP, NO_GROUP } from '../../src/domain/chargeback';
import type { LeaseStatus } from '../../src/domain/schemas';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseCostsResult } from '../../workflows';
import { runCli } from '../helpers/cli';
import { dailyRows } from '../helpers/ledger';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { awsEnvFor, createEventCapture } from '../../support/aws';

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
      uuid: randomUUID(),
      userEmail: `ledger-${randomUUID().slice(0, 8)}@example.gov.uk`,
      accountId: ACCOUNT,
      startDate: new Date(now - 3 * 24 * HOUR).toISOString(),
      terminatedAt: new Date(now - HOUR + 3000).toISOString(),
    };
    stack.isb.addLease({
      uuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: ACCOUNT,
      startDate: lease.startDate,
      status: 'Expired',
    });
    const window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd: lease.terminatedAt, paddingHours: 1 });
    const line = { service: 'Amazon Elastic Compute Cloud - Compute', region: 'eu-west-2', perDay: '1.2345678901' };
    stack.ce.addCosts(
      dailyCosts({
        accountId: ACCOUNT,
        start: addDays(window.start, -2),
        end: addDays(window.end, 2),
        service: line.service,
        resourceId: 'i-0abc',
        region: line.region,
        amount: line.perDay,
      }),
    );
    const expectedTotal = dailyRows(window, [line])
      .reduce((a, d) => a.plus(d.cost), new Decimal(0))
      .toFixed();

    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: ACCOUNT,
      terminatedAt: lease.terminatedAt,
      paddingHours: 1,
      rerunWindowHours: 0,
    });
    const result = (await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).result()) as LeaseCostsResult;
    expect(result.total).toBe(expectedTotal);

    const res = await runCli(['costs', '--by', 'lease', '--json', '--user', lease.userEmail], {
      DATABASE_URL: stack.config.DATABASE_URL!,
    });
    expect(res.code, res.stderr).toBe(0);
    const { lines } = JSON.parse(res.stdout) as {
      lines: { key: string; cost: string; user: string; account: string }[];
    };
    expect(lines).toEqual([
      { key: lease.uuid, cost: expectedTotal, leases: 1, user: lease.userEmail, account: ACCOUNT },
    ]);
    // The per-day rows came from writeReport's summary: each day of the window, in its month.
    const days = await runCli(
      ['costs', '--by', 'month', '--json', '--user', lease.userEmail, '--since', window.start, '--until', window.start],
      { DATABASE_URL: stack.config.DATABASE_URL! },
    );
    expect(JSON.parse(days.stdout).lines).toEqual([{ key: window.start.slice(0, 7), cost: line.perDay, leases: 1 }]);
  });
});

describe('chargeback: groups, shared days and the monthly group report', () => {
  // Four months back: no other test's lease has a billing window there.
  const today = new Date().toISOString().slice(0, 10);
  const month = addDays(`${today.slice(0, 7)}-01`, -100).slice(0, 7);
  const first = `${month}-01`;
  const nextMonth = addDays(addDays(first, 40), -Number(addDays(first, 40).slice(8, 10)) + 1);
  const day = (n: number, hour = 10) => `${addDays(first, n - 1)}T${String(hour).padStart(2, '0')}:00:00.000Z`;
  const tag = randomUUID().slice(0, 6);
  const group = (g: string) => `${g}-${tag}`;
  const per = { a1: '0.1234567891', a2: '2.0000000003', a3: '0.5', a4: '1.1111111111', a5: '3.3333333333' };
  const acct = { a1: '410000000001', a2: '410000000002', a3: '410000000003', a4: '410000000004', a5: '410000000005' };
  type L = {
    uuid: string;
    userEmail: string;
    accountId: string;
    startDate: string;
    endDate?: string;
    group?: string;
    reason?: 'Expired' | 'BudgetExceeded';
  };
  const mk = (
    accountId: string,
    startDate: string,
    endDate: string | undefined,
    g?: string,
    reason?: L['reason'],
  ): L => ({
    uuid: randomUUID(),
    userEmail: `cb-${randomUUID().slice(0, 6)}@example.gov.uk`,
    accountId,
    startDate,
    endDate,
    group: g,
    reason,
  });
  const leases = {
    inMonth: mk(acct.a1, day(10), day(14), group('dept-a'), 'Expired'),
    spanning: mk(acct.a2, `${addDays(first, -3)}T10:00:00.000Z`, day(3), group('dept-b'), 'BudgetExceeded'),
    noGroup: mk(acct.a3, day(5), day(7)),
    // Back to back on one account, within the 1 h padding: day 18 is in both windows.
    before: mk(acct.a5, day(15), day(18), group('dept-c'), 'Expired'),
    after: mk(acct.a5, day(18, 11), day(20), group('dept-c'), 'Expired'),
  };
  const active = mk(acct.a4, day(20), undefined, group('dept-a'));

  it('records each lease with its group, counts shared days once, and writes the exact monthly report', async () => {
    for (const [k, perDay] of Object.entries(per)) {
      stack.ce.addCosts(
        dailyCosts({
          accountId: acct[k as keyof typeof acct],
          start: addDays(first, -10),
          end: addDays(nextMonth, 3),
          service: 'AWS Lambda',
          resourceId: `fn-${k}`,
          region: 'eu-west-2',
          amount: perDay,
        }),
      );
    }
    for (const l of Object.values(leases)) {
      stack.isb.addLease({
        uuid: l.uuid,
        userEmail: l.userEmail,
        accountId: l.accountId,
        startDate: l.startDate,
        endDate: l.endDate,
        status: 'Expired',
        costReportGroup: l.group,
      });
    }
    stack.isb.addLease({
      uuid: active.uuid,
      userEmail: active.userEmail,
      accountId: active.accountId,
      startDate: active.startDate,
      status: 'Active',
      costReportGroup: active.group,
    });
    const reasons = {
      Expired: { type: 'Expired' as const, leaseDurationInHours: 24 },
      BudgetExceeded: { type: 'BudgetExceeded' as const, totalSpend: 60 },
    };
    await Promise.all(
      Object.values(leases).map((l) =>
        startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
          leaseUuid: l.uuid,
          userEmail: l.userEmail,
          accountId: l.accountId,
          terminatedAt: l.endDate!,
          paddingHours: 1,
          rerunWindowHours: 0,
          ...(l.reason ? { terminationReason: reasons[l.reason] } : {}),
        }),
      ),
    );
    await Promise.all(
      Object.values(leases).map((l) => stack.client.workflow.getHandle(workflowIdFor(l.uuid)).result()),
    );

    // Shared days: both leases say so (status, summary's HTML), each naming the other; day 18 counts for `after`
    // (it held the account 13 h that day, `before` 10 h).
    const shared = addDays(first, 17);
    const statusOf = (l: L) => stack.client.workflow.getHandle(workflowIdFor(l.uuid)).query<LeaseStatus>('status');
    const [sBefore, sAfter] = await Promise.all([statusOf(leases.before), statusOf(leases.after)]);
    expect(sBefore.attribution?.sharedDays).toEqual([
      { leaseUuid: leases.after.uuid, days: [shared], countedHere: [] },
    ]);
    expect(sAfter.attribution?.sharedDays).toEqual([
      { leaseUuid: leases.before.uuid, days: [shared], countedHere: [shared] },
    ]);
    expect(sBefore.attribution).toMatchObject({
      costReportGroup: group('dept-c'),
      originalLeaseTemplateName: 'sandbox',
      maxSpend: '50',
      totalCostAccrued: '0',
      terminationReason: 'Expired',
    });
    const html = (await stack.getObject(sBefore.reports.at(-1)!.chartKey!)).body.toString('utf8');
    expect(html).toContain(`<dd id="group">${group('dept-c')}</dd>`);
    expect(html).toContain(`${shared} with lease ${leases.after.uuid}`);

    // The ledger counts account a5's days 15..20 once: 3 for `before`, 3 for `after`.
    const db = { DATABASE_URL: stack.config.DATABASE_URL! };
    const times = (perDay: string, n: number) => new Decimal(perDay).times(n).toFixed();
    const byLease = await runCli(['costs', '--by', 'lease', '--json', '--account', acct.a5], db);
    expect(byLease.code, byLease.stderr).toBe(0);
    expect(
      new Map(
        (JSON.parse(byLease.stdout) as { lines: { key: string; cost: string }[] }).lines.map((l) => [l.key, l.cost]),
      ),
    ).toEqual(
      new Map([
        [leases.before.uuid, times(per.a5, 3)],
        [leases.after.uuid, times(per.a5, 3)],
      ]),
    );
    const byGroup = await runCli(
      ['costs', '--by', 'group', '--json', '--since', addDays(first, -10), '--until', addDays(nextMonth, 2)],
      db,
    );
    expect(byGroup.code, byGroup.stderr).toBe(0);
    const groupLines = new Map(
      (JSON.parse(byGroup.stdout) as { lines: { key: string; cost: string; leases: number }[] }).lines.map((l) => [
        l.key,
        l,
      ]),
    );
    expect(groupLines.get(group('dept-c'))).toEqual({ key: group('dept-c'), cost: times(per.a5, 6), leases: 2 });
    expect(groupLines.get(group('dept-b'))).toEqual({ key: group('dept-b'), cost: times(per.a2, 6), leases: 1 }); // the window: 3 days before the month, 3 in it
    expect(groupLines.get(NO_GROUP)?.leases).toBeGreaterThanOrEqual(1);
    const byReason = await runCli(['costs', '--by', 'reason', '--json', '--account', acct.a2], db);
    expect(JSON.parse(byReason.stdout).lines).toEqual([{ key: 'BudgetExceeded', cost: times(per.a2, 6), leases: 1 }]);
    const byTemplate = await runCli(['costs', '--by', 'template', '--json', '--account', acct.a1], db);
    expect(JSON.parse(byTemplate.stdout).lines).toEqual([{ key: 'sandbox', cost: times(per.a1, 5), leases: 1 }]);

    // The monthly report, on demand through the CLI: ended leases' days in the month, the active lease month to date.
    const capture = await createEventCapture(stack.motoEndpoint, {
      busName: stack.config.EVENT_BUS_NAME!,
      detailType: 'GroupCostReportGenerated',
    });
    try {
      const cliEnv = {
        ...awsEnvFor(stack.motoEndpoint),
        TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
      };
      const run = await runCli(['group-report', '--month', month, '--json'], cliEnv);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as {
        groupsKey: string;
        leasesKey: string;
        total: string;
        checksumSha256: string;
      };
      const leaseCsv = await stack.getObject(report.leasesKey);
      const [header, ...rows] = parse(leaseCsv.body.toString('utf8')) as string[][];
      expect(header).toEqual([
        'CostReportGroup',
        'LeaseId',
        'UserEmail',
        'AccountId',
        'Source',
        'DaysInMonth',
        'Cost',
        'Currency',
      ]);
      const row = (l: L) => rows.find((r) => r[1] === l.uuid);
      const daysInMonth = Number(addDays(nextMonth, -1).slice(8, 10));
      expect(row(leases.inMonth)).toEqual([
        group('dept-a'),
        leases.inMonth.uuid,
        leases.inMonth.userEmail,
        acct.a1,
        'ended',
        '5',
        times(per.a1, 5),
        'USD',
      ]);
      expect(row(leases.spanning)?.slice(4, 7)).toEqual(['ended', '3', times(per.a2, 3)]); // only the month's part
      expect(row(leases.noGroup)?.slice(0, 1).concat(row(leases.noGroup)!.slice(5, 7))).toEqual([
        NO_GROUP,
        '3',
        times(per.a3, 3),
      ]);
      expect(row(leases.before)?.slice(5, 7)).toEqual(['3', times(per.a5, 3)]);
      expect(row(leases.after)?.slice(5, 7)).toEqual(['3', times(per.a5, 3)]);
      expect(row(active)?.slice(4, 7)).toEqual(['active', String(daysInMonth - 19), times(per.a4, daysInMonth - 19)]);

      const groupCsv = await stack.getObject(report.groupsKey);
      expect(groupCsv.checksumSha256).toBe(report.checksumSha256);
      const [gHeader, ...gRows] = parse(groupCsv.body.toString('utf8')) as string[][];
      expect(gHeader).toEqual(['CostReportGroup', 'StartDate', 'EndDate', 'Cost', 'Currency']);
      // Every group total is the exact sum of its lease rows; the report's total is the sum of the groups.
      for (const [g, start, end, cost, currency] of gRows) {
        const mine = rows.filter((r) => (r[0] === NO_GROUP ? ISB_NO_GROUP : r[0]) === g).map((r) => r[6]!);
        expect(cost, g).toBe(mine.reduce((a, c) => a.plus(c), new Decimal(0)).toFixed());
        expect([start, end, currency]).toEqual([first, addDays(nextMonth, -1), 'USD']);
      }
      expect(gRows.reduce((a, r) => a.plus(r[3]!), new Decimal(0)).toFixed()).toBe(report.total);
      expect(gRows.find((r) => r[0] === group('dept-a'))?.[3]).toBe(
        new Decimal(times(per.a1, 5)).plus(times(per.a4, daysInMonth - 19)).toFixed(),
      );
      expect(gRows.find((r) => r[0] === group('dept-c'))?.[3]).toBe(times(per.a5, 6));

      const [event] = await capture.receiveAll<Record<string, unknown>>(2_000);
      expect(event?.detail).toMatchObject({
        reportMonth: month,
        fileName: report.groupsKey,
        leaseFileName: report.leasesKey,
        totalCost: report.total,
        currency: 'USD',
      });
    } finally {
      capture.close();
    }
  });
});
