import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  RESOURCE_LEVEL_DAYS,
  addDays,
  computeBillingWindow,
  settleUntil,
  splitByResourceHorizon,
  utcDay,
} from '../../src/domain/billing-window';

const win = (leaseStart: string, leaseEnd: string, paddingHours = 8) =>
  computeBillingWindow({ leaseStart, leaseEnd, paddingHours });

describe('computeBillingWindow', () => {
  it('widens by the padding, rounds to UTC midnight, end exclusive', () => {
    expect(win('2024-05-10T12:00:00Z', '2024-05-12T10:00:00Z')).toEqual({ start: '2024-05-10', end: '2024-05-13' });
  });

  it('padding crosses midnight on both sides', () => {
    expect(win('2024-05-10T05:00:00Z', '2024-05-12T20:00:00Z')).toEqual({ start: '2024-05-09', end: '2024-05-14' });
  });

  it('padding 0 keeps the lease days only', () => {
    expect(win('2024-05-10T05:00:00Z', '2024-05-12T20:00:00Z', 0)).toEqual({ start: '2024-05-10', end: '2024-05-13' });
  });

  it('padding 168 widens by a full week on each side', () => {
    expect(win('2024-05-10T05:00:00Z', '2024-05-12T20:00:00Z', 168)).toEqual({
      start: '2024-05-03',
      end: '2024-05-20',
    });
  });

  it('converts offsets to UTC before rounding', () => {
    // 2024-05-10T02:00+05:30 is 2024-05-09T20:30Z; 2024-05-12T23:00-05:00 is 2024-05-13T04:00Z.
    expect(win('2024-05-10T02:00:00+05:30', '2024-05-12T23:00:00-05:00', 0)).toEqual({
      start: '2024-05-09',
      end: '2024-05-14',
    });
    expect(win('2024-05-10T02:00:00.000+0530', '2024-05-12T23:00-0500', 0)).toEqual({
      start: '2024-05-09',
      end: '2024-05-14',
    });
  });

  it('keeps instants exactly at UTC midnight', () => {
    expect(win('2024-05-10T00:00:00Z', '2024-05-12T00:00:00Z', 0)).toEqual({ start: '2024-05-10', end: '2024-05-12' });
    // Midnight reached via an offset.
    expect(win('2024-05-10T05:30:00+05:30', '2024-05-11T19:00:00-05:00', 0)).toEqual({
      start: '2024-05-10',
      end: '2024-05-12',
    });
    // Padding landing exactly on midnight.
    expect(win('2024-05-10T08:00:00Z', '2024-05-11T16:00:00Z', 8)).toEqual({ start: '2024-05-10', end: '2024-05-12' });
  });

  it('one millisecond (or less) past midnight rounds the end up', () => {
    expect(win('2024-05-10T00:00:00Z', '2024-05-12T00:00:00.001Z', 0).end).toBe('2024-05-13');
    expect(win('2024-05-10T00:00:00Z', '2024-05-12T00:00:00.0000001Z', 0).end).toBe('2024-05-13');
    expect(win('2024-05-09T23:59:59.999Z', '2024-05-12T00:00:00Z', 0).start).toBe('2024-05-09');
  });

  it('a zero-length lease at midnight still gets a one-day window', () => {
    expect(win('2024-05-10T00:00:00Z', '2024-05-10T00:00:00Z', 0)).toEqual({ start: '2024-05-10', end: '2024-05-11' });
    expect(win('2024-05-10T10:00:00Z', '2024-05-10T10:00:00Z', 0)).toEqual({ start: '2024-05-10', end: '2024-05-11' });
  });

  it('crosses year ends', () => {
    expect(win('2024-12-30T10:00:00Z', '2024-12-31T20:00:00Z')).toEqual({ start: '2024-12-30', end: '2025-01-02' });
    expect(win('2025-01-01T03:00:00Z', '2025-01-02T10:00:00Z')).toEqual({ start: '2024-12-31', end: '2025-01-03' });
    expect(win('2024-12-31T10:00:00Z', '2024-12-31T12:00:00Z', 0)).toEqual({ start: '2024-12-31', end: '2025-01-01' });
  });

  it('handles February in leap (2028) and common (2027) years', () => {
    expect(win('2028-02-28T10:00:00Z', '2028-02-28T20:00:00Z')).toEqual({ start: '2028-02-28', end: '2028-03-01' });
    expect(win('2028-02-29T10:00:00Z', '2028-02-29T20:00:00Z')).toEqual({ start: '2028-02-29', end: '2028-03-02' });
    expect(win('2028-03-01T03:00:00Z', '2028-03-01T10:00:00Z')).toEqual({ start: '2028-02-29', end: '2028-03-02' });
    expect(win('2027-02-28T10:00:00Z', '2027-02-28T20:00:00Z')).toEqual({ start: '2027-02-28', end: '2027-03-02' });
    expect(win('2027-03-01T03:00:00Z', '2027-03-01T10:00:00Z')).toEqual({ start: '2027-02-28', end: '2027-03-02' });
  });

  it('crosses month ends', () => {
    expect(win('2024-04-30T10:00:00Z', '2024-04-30T20:00:00Z')).toEqual({ start: '2024-04-30', end: '2024-05-02' });
  });

  it('rejects leaseEnd before leaseStart', () => {
    expect(() => win('2024-05-12T00:00:00Z', '2024-05-11T23:59:59Z')).toThrow(/before leaseStart/);
    // Same wall clock, but the offset puts the end earlier.
    expect(() => win('2024-05-12T10:00:00Z', '2024-05-12T12:00:00+05:00')).toThrow(/before leaseStart/);
  });

  it.each([-1, 169, 1.5, NaN, Infinity])('rejects padding %s', (p) => {
    expect(() => win('2024-05-10T00:00:00Z', '2024-05-11T00:00:00Z', p)).toThrow(/paddingHours/);
  });

  it.each([
    'not a date',
    '2024-05-10',
    '2024-05-10T10:00:00', // no offset: depends on the machine's zone
    '2024-02-30T10:00:00Z',
    '2027-02-29T10:00:00Z',
    '2024-05-10T24:00:00Z',
    '2024-05-10T10:60:00Z',
    '2024-05-10T10:00:60Z',
    '2024-05-10T10:00:00+24:00',
    '2024-05-10 10:00:00Z',
    'Fri, 10 May 2024 10:00:00 GMT',
  ])('rejects unparseable date-time %j naming it', (bad) => {
    expect(() => win(bad, '2024-05-11T00:00:00Z')).toThrow(JSON.stringify(bad));
    expect(() => win('2024-05-01T00:00:00Z', bad)).toThrow(/leaseEnd/);
  });

  it('always covers the padded lease with whole UTC days (property)', () => {
    const t0 = Date.UTC(2000, 0, 1);
    const t1 = Date.UTC(2090, 0, 1);
    const offsets = fc.integer({ min: -14 * 60, max: 14 * 60 }).map((m) => m - (m % 15));
    const iso = (ms: number, offMin: number) => {
      const local = new Date(ms + offMin * 60_000).toISOString().slice(0, 23);
      const sign = offMin < 0 ? '-' : '+';
      const a = Math.abs(offMin);
      return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: t0, max: t1 }),
        fc.integer({ min: 0, max: 400 * 86_400_000 }),
        fc.integer({ min: 0, max: 168 }),
        offsets,
        offsets,
        (s, len, pad, o1, o2) => {
          const e = s + len;
          const w = computeBillingWindow({ leaseStart: iso(s, o1), leaseEnd: iso(e, o2), paddingHours: pad });
          const ws = Date.parse(`${w.start}T00:00:00Z`);
          const we = Date.parse(`${w.end}T00:00:00Z`);
          const ps = s - pad * 3_600_000;
          const pe = e + pad * 3_600_000;
          expect(ws).toBeLessThanOrEqual(ps);
          expect(ps - ws).toBeLessThan(86_400_000);
          expect(we).toBeGreaterThanOrEqual(pe);
          expect(we).toBeGreaterThan(ws);
          // Only the zero-length-at-midnight case is widened to a full day.
          if (we - ws > 86_400_000) expect(we - pe).toBeLessThan(86_400_000);
        },
      ),
    );
  });
});

describe('settleUntil', () => {
  it('adds the padding to the termination instant, in UTC', () => {
    expect(settleUntil('2024-05-10T20:00:00Z', 8)).toBe('2024-05-11T04:00:00.000Z');
    expect(settleUntil('2024-05-10T20:00:00+05:30', 0)).toBe('2024-05-10T14:30:00.000Z');
    expect(settleUntil('2024-12-31T23:00:00Z', 168)).toBe('2025-01-07T23:00:00.000Z');
  });

  it('rejects bad input', () => {
    expect(() => settleUntil('yesterday', 8)).toThrow(/terminatedAt/);
    expect(() => settleUntil('2024-05-10T20:00:00Z', 200)).toThrow(/paddingHours/);
  });
});

describe('addDays and utcDay', () => {
  it('adds days across month, year and leap boundaries', () => {
    expect(addDays('2024-12-31', 1)).toBe('2025-01-01');
    expect(addDays('2025-01-01', -1)).toBe('2024-12-31');
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2027-02-28', 1)).toBe('2027-03-01');
    expect(addDays('2024-05-10', 0)).toBe('2024-05-10');
    expect(addDays('2024-05-10', -13)).toBe('2024-04-27');
  });

  it('rejects bad dates and counts', () => {
    expect(() => addDays('2024-02-30', 1)).toThrow('"2024-02-30"');
    expect(() => addDays('2024-5-1', 1)).toThrow(/YYYY-MM-DD/);
    expect(() => addDays('2024-05-01', 0.5)).toThrow(/integer/);
  });

  it('gives the UTC calendar day of an instant', () => {
    expect(utcDay('2024-05-10T02:00:00+05:30')).toBe('2024-05-09');
    expect(utcDay('2024-05-10T23:59:59.999-00:01')).toBe('2024-05-11');
    expect(utcDay('2024-05-10T00:00:00Z')).toBe('2024-05-10');
    expect(() => utcDay('2024-05-10')).toThrow(/date-time/);
  });
});

describe('splitByResourceHorizon', () => {
  const today = '2024-05-20';
  // 14 calendar days including today: 2024-05-07 .. 2024-05-20.
  const horizon = '2024-05-07';

  it('horizon is today minus 13 days', () => {
    expect(RESOURCE_LEVEL_DAYS).toBe(14);
    expect(addDays(today, -(RESOURCE_LEVEL_DAYS - 1))).toBe(horizon);
  });

  it('all old: service level only', () => {
    expect(splitByResourceHorizon({ start: '2024-04-01', end: '2024-04-10' }, today)).toEqual({
      serviceLevel: { start: '2024-04-01', end: '2024-04-10' },
      resourceLevel: null,
    });
  });

  it('all recent: resource level only', () => {
    expect(splitByResourceHorizon({ start: '2024-05-15', end: '2024-05-19' }, today)).toEqual({
      serviceLevel: null,
      resourceLevel: { start: '2024-05-15', end: '2024-05-19' },
    });
  });

  it('crossing the horizon: contiguous split at the horizon', () => {
    const r = splitByResourceHorizon({ start: '2024-04-28', end: '2024-05-21' }, today);
    expect(r).toEqual({
      serviceLevel: { start: '2024-04-28', end: horizon },
      resourceLevel: { start: horizon, end: '2024-05-21' },
    });
    expect(r.serviceLevel!.end).toBe(r.resourceLevel!.start);
  });

  it('window starting exactly on the horizon day is all resource level', () => {
    expect(splitByResourceHorizon({ start: horizon, end: '2024-05-10' }, today)).toEqual({
      serviceLevel: null,
      resourceLevel: { start: horizon, end: '2024-05-10' },
    });
  });

  it('window ending exactly at the horizon (exclusive) is all service level', () => {
    expect(splitByResourceHorizon({ start: '2024-05-01', end: horizon }, today)).toEqual({
      serviceLevel: { start: '2024-05-01', end: horizon },
      resourceLevel: null,
    });
  });

  it('window including only the horizon day plus one day before splits into one day each', () => {
    expect(splitByResourceHorizon({ start: '2024-05-06', end: '2024-05-08' }, today)).toEqual({
      serviceLevel: { start: '2024-05-06', end: horizon },
      resourceLevel: { start: horizon, end: '2024-05-08' },
    });
  });

  it('window in the future of today is resource level', () => {
    expect(splitByResourceHorizon({ start: '2024-05-25', end: '2024-05-27' }, today)).toEqual({
      serviceLevel: null,
      resourceLevel: { start: '2024-05-25', end: '2024-05-27' },
    });
  });

  it('crosses a year end', () => {
    const r = splitByResourceHorizon({ start: '2024-12-01', end: '2025-01-05' }, '2025-01-05');
    expect(r.serviceLevel).toEqual({ start: '2024-12-01', end: '2024-12-23' });
    expect(r.resourceLevel).toEqual({ start: '2024-12-23', end: '2025-01-05' });
  });

  it('an empty window yields nothing', () => {
    expect(splitByResourceHorizon({ start: '2024-05-10', end: '2024-05-10' }, today)).toEqual({
      serviceLevel: null,
      resourceLevel: null,
    });
  });

  it('rejects bad input', () => {
    expect(() => splitByResourceHorizon({ start: '2024-05-10', end: '2024-05-09' }, today)).toThrow(/before start/);
    expect(() => splitByResourceHorizon({ start: '2024-05-10', end: '2024-05-12' }, '20-05-2024')).toThrow(/today/);
    expect(() => splitByResourceHorizon({ start: '2024-13-01', end: '2024-05-12' }, today)).toThrow(/window.start/);
  });

  it('partitions the window exactly, resource part within the horizon (property)', () => {
    const day = fc.integer({ min: 0, max: 2000 }).map((n) => addDays('2023-01-01', n));
    fc.assert(
      fc.property(day, fc.integer({ min: 1, max: 400 }), day, (start, len, t) => {
        const w = { start, end: addDays(start, len) };
        const { serviceLevel: s, resourceLevel: r } = splitByResourceHorizon(w, t);
        const h = addDays(t, -(RESOURCE_LEVEL_DAYS - 1));
        expect(s ?? r).not.toBeNull();
        if (s && r) {
          expect(s.start).toBe(w.start);
          expect(s.end).toBe(r.start);
          expect(r.end).toBe(w.end);
        } else {
          expect(s ?? r).toEqual(w);
        }
        if (s) expect(s.end <= h).toBe(true);
        if (r) expect(r.start >= h).toBe(true);
      }),
    );
  });
});
