import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeBillingWindow } from '../../src/domain/billing-window';
import { activeLeaseRows, groupTotals, NO_GROUP, type GroupReportLeaseRow } from '../../src/domain/chargeback';
import { monthRange, previousMonth } from '../../src/domain/report-month';
import { sharedDaysOf } from '../../src/domain/shared-days';

const lease = (startDate: string, endDate: string, paddingHours = 1) => ({
  uuid: randomUUID(),
  startDate,
  endDate,
  window: computeBillingWindow({ leaseStart: startDate, leaseEnd: endDate, paddingHours }),
});

describe('shared days', () => {
  it('gives a shared day to the lease that held the account longest that day, the same from either side', () => {
    const a = lease('2026-03-15T10:00:00Z', '2026-03-18T10:00:00Z');
    const b = lease('2026-03-18T11:00:00Z', '2026-03-20T10:00:00Z');
    expect(sharedDaysOf(a, [b], 1, '2026-04-01T00:00:00Z')).toEqual([
      { leaseUuid: b.uuid, days: ['2026-03-18'], countedHere: [] },
    ]);
    expect(sharedDaysOf(b, [a], 1, '2026-04-01T00:00:00Z')).toEqual([
      { leaseUuid: a.uuid, days: ['2026-03-18'], countedHere: ['2026-03-18'] },
    ]);
  });

  it('gives a padding-only day, held by neither, to the lease that started first', () => {
    // a ends 23:30 on the 10th; with 8 h padding its window runs into the 11th, where b starts at 06:00.
    const a = lease('2026-03-05T10:00:00Z', '2026-03-10T23:30:00Z', 8);
    const b = { uuid: randomUUID(), startDate: '2026-03-12T05:00:00Z', endDate: '2026-03-13T10:00:00Z' };
    const [shared] = sharedDaysOf(a, [b], 8, '2026-04-01T00:00:00Z');
    expect(shared?.days).toEqual(['2026-03-11']);
    expect(shared?.countedHere).toEqual(['2026-03-11']);
  });

  it('counts a lease still running as held until now, and ignores the lease itself and leases that share nothing', () => {
    const a = lease('2026-03-01T10:00:00Z', '2026-03-03T10:00:00Z');
    const running = { uuid: randomUUID(), startDate: '2026-03-03T12:00:00Z' };
    const far = { uuid: randomUUID(), startDate: '2026-03-20T12:00:00Z', endDate: '2026-03-21T12:00:00Z' };
    expect(sharedDaysOf(a, [running, far, { ...a }], 1, '2026-03-05T00:00:00Z')).toEqual([
      { leaseUuid: running.uuid, days: ['2026-03-03'], countedHere: [] },
    ]);
  });
});

describe('monthly group report rules', () => {
  it('knows month ranges and the previous month across a year', () => {
    expect(monthRange('2026-12')).toEqual({ start: '2026-12-01', end: '2027-01-01' });
    expect(monthRange('2028-02')).toEqual({ start: '2028-02-01', end: '2028-03-01' });
    expect(previousMonth('2027-01-03T06:00:00Z')).toBe('2026-12');
  });

  it('sums group totals exactly from the lease rows', () => {
    const row = (group: string, cost: string): GroupReportLeaseRow => ({
      group,
      leaseUuid: randomUUID(),
      userEmail: 'a@example.com',
      accountId: '123456789012',
      source: 'ended',
      daysInMonth: 1,
      cost,
    });
    expect(groupTotals([row('a', '0.1'), row('a', '0.2'), row(NO_GROUP, '0.0000000001'), row('b', '0.3')])).toEqual([
      { group: 'a', cost: '0.3', leases: 2 },
      { group: 'b', cost: '0.3', leases: 1 },
      { group: NO_GROUP, cost: '0.0000000001', leases: 1 },
    ]);
  });

  it('takes an active lease from its start day to the month end, leaving out days an ended lease counts', () => {
    const daily = new Map([
      [
        '123456789012',
        new Map([
          ['2026-03-09', '5'],
          ['2026-03-10', '1.5'],
          ['2026-03-11', '2.25'],
          ['2026-03-31', '0.125'],
        ]),
      ],
    ]);
    const active = {
      uuid: randomUUID(),
      userEmail: 'a@example.com',
      accountId: '123456789012',
      startDate: '2026-03-10T15:00:00Z',
      status: 'Active',
    };
    const [row] = activeLeaseRows([active], monthRange('2026-03'), daily, new Set(['123456789012/2026-03-11']));
    expect(row).toMatchObject({ group: NO_GROUP, source: 'active', daysInMonth: 21, cost: '1.625' });
  });
});
